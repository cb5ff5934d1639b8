"""Classification of events against one source's effects, as pure DataFrame transformations.

Events and effects are unioned and grouped by event_id once (a single shuffle), then every
group worth a look yields its findings: MISSING, DUPLICATE, ORPHAN, MISMATCH, and PENDING
(an event still inside its grace period, counted but not reported).
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
    MISMATCH,
    MISSING,
    ORPHAN,
    Source,
    describe,
)

PENDING = "PENDING"


@dataclass(frozen=True)
class Rule:
    """What one run expects of one source for one day."""

    source: Source
    day_start: datetime
    day_end: datetime
    as_of: datetime
    grace: timedelta


def group_by_event(events_df: DataFrame, effects_df: DataFrame, source: Source) -> DataFrame:
    """One row per event_id: the event (if in the window), its effect count and sorted effects."""
    comparisons = source.comparisons()
    events_side_df = events_df.select(
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
        "event_id", F.struct("effect_time", "effect_id", "key", "values").alias("effect")
    )
    return (
        events_side_df.unionByName(effects_side_df, allowMissingColumns=True)
        .groupBy("event_id")
        .agg(
            F.min("event").alias("event"),  # min: deterministic should two keys share an id
            F.count("effect").cast("int").alias("effect_count"),
            F.sort_array(F.collect_list("effect")).alias("effects"),  # by effect_time, id
        )
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


def _ids(effects: Column) -> Column:
    return F.transform(effects, lambda e: e["effect_id"])


def _missing_or_pending(rule: Rule, in_day: Column) -> list[Column]:
    expected = _expected_effects(rule.source)
    short = in_day & (F.col("effect_count") < expected)
    past_grace = F.col("event.event_time") + F.lit(rule.grace) <= F.lit(rule.as_of)
    wait = describe(rule.grace)
    detail = F.format_string(
        f"expected %d effect(s) from {rule.source.name}, found %d after the {wait} grace period",
        expected,
        F.col("effect_count"),
    )
    args = (
        F.col("event.key"),
        F.col("effect_count"),
        _ids(F.col("effects")),
        detail,
        F.col("event.event_time"),
    )
    missing = F.when(short & past_grace, _finding(MISSING, *args))
    return [missing, F.when(short & ~past_grace, _finding(PENDING, *args))]


def _duplicate(rule: Rule, in_day: Column) -> Column:
    allowed = F.greatest(_expected_effects(rule.source), F.lit(1))
    extra_ids = _ids(F.slice("effects", allowed + 1, F.col("effect_count") - allowed))
    detail = F.format_string(
        f"%d effects in {rule.source.name} for one event (expected %d); extra: %s",
        F.col("effect_count"),
        allowed,
        F.array_join(extra_ids, ", "),
    )
    finding = _finding(
        DUPLICATE,
        F.col("event.key"),
        F.col("effect_count"),
        _ids(F.col("effects")),
        detail,
        F.col("event.event_time"),
    )
    return F.when(in_day & (F.col("effect_count") > allowed), finding)


def _orphan(rule: Rule) -> Column:
    def in_day(effect: Column) -> Column:
        time = effect["effect_time"]
        return time.isNull() | ((time >= F.lit(rule.day_start)) & (time < F.lit(rule.day_end)))

    day_effects = F.filter("effects", in_day)
    detail = F.format_string(
        f"%d effect(s) in {rule.source.name} (%s) name this event_id, which is not in the log",
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


def _mismatch_check(
    rule: Rule, in_day: Column, index: int, field: str, column: str
) -> Callable[[Column], Column]:
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
            F.col("event.event_time"),
            F.lit(field),
            expected,
            actual,
        )
        return F.when(in_day & values_differ(expected, actual, rule.source.tolerance), finding)

    return check


def _mismatches(rule: Rule, in_day: Column) -> list[Column]:
    """Per compared field: for each effect, its finding when the value differs, else null."""
    return [
        F.transform("effects", _mismatch_check(rule, in_day, index, field, column))
        for index, (field, column) in enumerate(rule.source.comparisons())
    ]


def _worth_a_look(rule: Rule, in_day: Column) -> Column:
    """Cheap scalar test that a group may hold a finding; the clean majority stops here.

    Higher-order functions (transform, filter) are evaluated row by row without code
    generation, so they only run behind this test (CASE WHEN evaluates lazily).
    """
    count = F.col("effect_count")
    expected = _expected_effects(rule.source)
    first_effect = F.get("effects", 0)  # get: null, not an error, on an empty list
    single_differs = [
        values_differ(F.col("event.values")[i], first_effect["values"][i], rule.source.tolerance)
        for i in range(len(rule.source.comparisons()))
    ]
    look = F.col("event").isNull() | (count > F.greatest(expected, F.lit(1)))
    look = look | (in_day & (count < expected))
    if single_differs:
        any_differs = single_differs[0]
        for differs in single_differs[1:]:
            any_differs = any_differs | differs
        look = look | (in_day & ((count > 1) | ((count == 1) & any_differs)))
    return look


def classify(grouped_df: DataFrame, rule: Rule) -> DataFrame:
    """Grouped events and effects -> one row per finding (PENDING rows included)."""
    event_time = F.col("event.event_time")
    in_day = (event_time >= F.lit(rule.day_start)) & (event_time < F.lit(rule.day_end))
    candidates = F.concat(
        F.array(*_missing_or_pending(rule, in_day), _duplicate(rule, in_day), _orphan(rule)),
        *_mismatches(rule, in_day),
    )
    findings = F.filter(candidates, lambda finding: finding.isNotNull())
    # explode(null) yields no row: a group not worth a look costs no array work at all
    look_df = grouped_df.select(F.when(_worth_a_look(rule, in_day), findings).alias("found"))
    return look_df.select(F.explode("found").alias("f")).select("f.*")
