"""Classification of one source's effects against the event log, as pure DataFrame transformations.

Events and effects are unioned and grouped by identity, (key, event_id), once (one shuffle).
Each group yields the findings of one run day D:
- of its event, when the event is of day D or re-checked from an earlier run: MISSING, or
  PENDING while the event is inside its grace period;
- of its effects that happened on day D, whatever day the event is of: DUPLICATE (an effect
  beyond the expected count), LATE_EFFECT (more than `lookback` after its event), MISMATCH,
  and ORPHAN (no event in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kafka_dedup.reconcile.compare import event_value, values_differ
from kafka_dedup.reconcile.settings import (
    DUPLICATE,
    LATE_EFFECT,
    MISMATCH,
    MISSING,
    ORPHAN,
    PENDING,
    Source,
    describe,
)

GROUP_KEY = "gkey"  # the event key, or null for a source without key_column (event_id alone)


@dataclass(frozen=True)
class Rule:
    """What one run expects of one source for one day."""

    source: Source
    day_start: datetime
    day_end: datetime
    as_of: datetime
    grace: timedelta
    lookback: timedelta = timedelta(days=1)


def group_key(source: Source, key: Column) -> Column:
    """The key part of the identity: a source without key_column can only match event_id."""
    return key if source.key_column else F.lit(None).cast("string")


def group_by_event(
    events_df: DataFrame,
    effects_df: DataFrame,
    source: Source,
    recheck_df: DataFrame | None = None,
) -> DataFrame:
    """One row per identity: its event (if read), effects sorted by time, and a re-check flag.

    recheck_df (gkey, event_id): events an earlier run left PENDING, judged again by this run.
    """
    comparisons = source.comparisons()
    events_side_df = events_df.select(
        group_key(source, F.col("key")).alias(GROUP_KEY),
        "event_id",
        F.struct(
            "key",
            "event_type",
            "event_time",
            F.array(*[event_value(f) for f, _ in comparisons])
            .cast("array<string>")
            .alias("values"),
        ).alias("event"),
    )
    effects_side_df = effects_df.select(
        group_key(source, F.col("key")).alias(GROUP_KEY),
        "event_id",
        F.struct("effect_time", "effect_id", "key", "values").alias("effect"),
    )
    union_df = events_side_df.unionByName(effects_side_df, allowMissingColumns=True)
    if recheck_df is not None:
        union_df = union_df.unionByName(
            recheck_df.select(GROUP_KEY, "event_id", F.lit(True).alias("recheck")),
            allowMissingColumns=True,
        )
    else:
        union_df = union_df.withColumn("recheck", F.lit(None).cast("boolean"))
    return union_df.groupBy(GROUP_KEY, "event_id").agg(
        F.min("event").alias("event"),  # min: deterministic for a keyless source
        F.count("effect").cast("int").alias("effect_count"),
        F.sort_array(F.collect_list("effect")).alias("effects"),  # by effect_time, id
        F.coalesce(F.max("recheck"), F.lit(False)).alias("recheck"),
    )


def _finding(
    kind: str,
    key: Column,
    effect_count: Column,
    effect_ids: Column,
    detail: Column,
    finding_time: Column,
    field: Column | None = None,
    expected: Column | None = None,
    actual: Column | None = None,
) -> Column:
    none = F.lit(None).cast("string")
    return F.struct(
        F.lit(kind).alias("finding_type"),
        F.col("event_id").alias("event_id"),
        key.alias("key"),
        F.col("event.event_type").alias("event_type"),
        F.col("event.event_time").alias("event_time"),
        effect_count.cast("int").alias("effect_count"),
        effect_ids.cast("array<string>").alias("effect_ids"),
        (field if field is not None else none).alias("field"),
        (expected if expected is not None else none).alias("expected"),
        (actual if actual is not None else none).alias("actual"),
        detail.alias("detail"),
        finding_time.alias("finding_time"),
    )


def _expected_effects(source: Source) -> Column:
    """How many effects the group's event needs from this source (0: none expected)."""
    if not source.expects_event_types:
        return F.lit(0)
    expected_type = F.col("event.event_type").isin(*source.expects_event_types)
    return F.when(expected_type, F.lit(source.effects_per_event)).otherwise(F.lit(0))


def _allowed(source: Source) -> Column:
    return F.greatest(_expected_effects(source), F.lit(1))


def _ids(effects: Column) -> Column:
    return F.transform(effects, lambda e: e["effect_id"])


def _day(time: Column) -> Column:
    return F.date_format(time, "yyyy-MM-dd")


def _event_in_day(rule: Rule) -> Column:
    time = F.col("event.event_time")
    return (time >= F.lit(rule.day_start)) & (time < F.lit(rule.day_end))


def _in_run(rule: Rule) -> Callable[[Column], Column]:
    """effect -> it is judged by this run: it happened on the day (undated: its event's day)."""

    def check(effect: Column) -> Column:
        time = effect["effect_time"]
        in_day = (time >= F.lit(rule.day_start)) & (time < F.lit(rule.day_end))
        undated_here = F.col("event").isNull() | _event_in_day(rule)
        return F.when(time.isNull(), undated_here).otherwise(in_day)

    return check


def _until_day_end(rule: Rule) -> Column:
    """The group's effects up to the end of the day: what a re-run of this date sees again."""
    return F.filter(
        "effects", lambda e: e["effect_time"].isNull() | (e["effect_time"] < F.lit(rule.day_end))
    )


def _missing_or_pending(rule: Rule) -> list[Column]:
    expected = _expected_effects(rule.source)
    judged = F.col("event").isNotNull() & (_event_in_day(rule) | F.col("recheck"))
    short = judged & (F.col("effect_count") < expected)
    grace_ends = F.col("event.event_time") + F.lit(rule.grace)
    past_grace = grace_ends <= F.lit(rule.as_of)
    missing_detail = F.format_string(
        f"expected %d effect(s) from {rule.source.name} for the event of %s, found %d in the "
        f"whole source as of {rule.as_of.isoformat()} (the {describe(rule.grace)} grace "
        "period is over)",
        expected,
        _day(F.col("event.event_time")),
        F.col("effect_count"),
    )
    pending_detail = F.format_string(
        f"event of %s: %d of %d effect(s) from {rule.source.name} so far; its grace period "
        "ends at %s, a later run checks it again",
        _day(F.col("event.event_time")),
        F.col("effect_count"),
        expected,
        F.date_format(grace_ends, "yyyy-MM-dd'T'HH:mm:ssXXX"),
    )

    def finding(kind: str, detail: Column) -> Column:
        return _finding(
            kind,
            F.col("event.key"),
            F.col("effect_count"),
            _ids(F.col("effects")),
            detail,
            F.col("event.event_time"),
        )

    return [
        F.when(short & past_grace, finding(MISSING, missing_detail)),
        F.when(short & ~past_grace, finding(PENDING, pending_detail)),
    ]


def _duplicate(rule: Rule) -> Column:
    """Effects beyond the expected count that happened on the day, whatever the event's day."""
    allowed = _allowed(rule.source)
    extras = F.filter("effects", lambda e, i: (i >= allowed) & _in_run(rule)(e))
    seen = _until_day_end(rule)
    detail = F.format_string(
        f"%d effects in {rule.source.name} for one event of %s (expected %d); extra on %s: %s",
        F.size(seen),
        _day(F.col("event.event_time")),
        allowed,
        F.lit(rule.day_start.date().isoformat()),
        F.array_join(_ids(extras), ", "),
    )
    finding = _finding(
        DUPLICATE,
        F.col("event.key"),
        F.size(seen),
        _ids(seen),
        detail,
        F.coalesce(F.get(extras, 0)["effect_time"], F.col("event.event_time")),
    )
    return F.when(F.col("event").isNotNull() & (F.size(extras) > 0), finding)


def _late_effect(rule: Rule) -> Column:
    """Expected effects of the day that came more than `lookback` after their event."""
    allowed = _allowed(rule.source)
    deadline = F.col("event.event_time") + F.lit(rule.lookback)
    late = F.filter(
        "effects",
        lambda e, i: (i < allowed) & _in_run(rule)(e) & (e["effect_time"] > deadline),
    )
    first = F.get(late, 0)
    hours = (
        F.unix_seconds(first["effect_time"]) - F.unix_seconds(F.col("event.event_time"))
    ) / 3600
    detail = F.format_string(
        f"effect %s in {rule.source.name} on %s came %.1f hours after its event of %s, beyond "
        f"the lookback of {describe(rule.lookback)}: review it, never replay (a replay would "
        "make a second effect)",
        F.array_join(_ids(late), ", "),
        F.lit(rule.day_start.date().isoformat()),
        hours,
        _day(F.col("event.event_time")),
    )
    finding = _finding(
        LATE_EFFECT,
        F.col("event.key"),
        F.size(late),
        _ids(late),
        detail,
        first["effect_time"],
    )
    return F.when(F.col("event").isNotNull() & (F.size(late) > 0), finding)


def _orphan(rule: Rule) -> Column:
    day_effects = F.filter("effects", _in_run(rule))
    detail = F.format_string(
        f"%d effect(s) in {rule.source.name} (%s) name this event, which is not in the log",
        F.size(day_effects),
        F.array_join(_ids(day_effects), ", "),
    )
    finding = _finding(
        ORPHAN,
        F.get(day_effects, 0)["key"],
        F.size(day_effects),
        _ids(day_effects),
        detail,
        F.get(day_effects, 0)["effect_time"],
    )
    return F.when(F.col("event").isNull() & (F.size(day_effects) > 0), finding)


def _mismatch_check(rule: Rule, index: int, field: str, column: str) -> Callable[[Column], Column]:
    """effect -> a MISMATCH finding when the compared value differs, else null."""
    expected = F.col("event.values")[index]

    def check(effect: Column) -> Column:
        actual = effect["values"][index]
        detail = F.format_string(
            f"{field}: event has %s, {rule.source.name}.{column} has %s in effect %s",
            F.coalesce(expected, F.lit("null")),
            F.coalesce(actual, F.lit("null")),
            effect["effect_id"],
        )
        finding = _finding(
            MISMATCH,
            F.col("event.key"),
            F.lit(1),
            F.array(effect["effect_id"]),
            detail,
            F.coalesce(effect["effect_time"], F.col("event.event_time")),
            F.lit(field),
            expected,
            actual,
        )
        differs = values_differ(expected, actual, rule.source.tolerance)
        return F.when(F.col("event").isNotNull() & _in_run(rule)(effect) & differs, finding)

    return check


def _mismatches(rule: Rule) -> list[Column]:
    """Per compared field: for each effect of the day, its finding when the value differs."""
    return [
        F.transform("effects", _mismatch_check(rule, index, field, column))
        for index, (field, column) in enumerate(rule.source.comparisons())
    ]


def _worth_a_look(rule: Rule) -> Column:
    """Cheap scalar test that a group may hold a finding; the clean majority stops here.

    Higher-order functions (transform, filter) are evaluated row by row without code
    generation, so they only run behind this test (CASE WHEN evaluates lazily).
    """
    count = F.col("effect_count")
    expected = _expected_effects(rule.source)
    first_effect = F.get("effects", 0)  # get: null, not an error, outside the list
    last_effect = F.get("effects", count - 1)
    is_late = last_effect["effect_time"] > F.col("event.event_time") + F.lit(rule.lookback)
    look = F.col("event").isNull() | (count > F.greatest(expected, F.lit(1))) | is_late
    look = look | ((_event_in_day(rule) | F.col("recheck")) & (count < expected))
    single_differs = [
        values_differ(F.col("event.values")[i], first_effect["values"][i], rule.source.tolerance)
        for i in range(len(rule.source.comparisons()))
    ]
    if single_differs:
        any_differs = single_differs[0]
        for differs in single_differs[1:]:
            any_differs = any_differs | differs
        look = look | (count > 1) | ((count == 1) & any_differs)
    return F.coalesce(look, F.lit(False))


def classify(grouped_df: DataFrame, rule: Rule) -> DataFrame:
    """Grouped events and effects -> one row per finding of the run day (PENDING included)."""
    candidates = F.concat(
        F.array(*_missing_or_pending(rule), _duplicate(rule), _late_effect(rule), _orphan(rule)),
        *_mismatches(rule),
    )
    findings = F.filter(candidates, lambda finding: finding.isNotNull())
    # explode(null) yields no row: a group not worth a look costs no array work at all
    look_df = grouped_df.select(F.when(_worth_a_look(rule), findings).alias("found"))
    return look_df.select(F.explode("found").alias("f")).select("f.*")
