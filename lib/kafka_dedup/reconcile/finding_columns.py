"""One column per finding class: a finding struct when a grouped row holds one, else null.

Read together with `rule` (what the run expects) and `classify` (which evaluates them).
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from kafka_dedup.domain import DUPLICATE, LATE_EFFECT, MISMATCH, MISSING, ORPHAN, PENDING
from kafka_dedup.reconcile.compare import values_differ
from kafka_dedup.reconcile.rule import (
    Rule,
    allowed_effects,
    day_text,
    effect_ids,
    event_in_day,
    expected_effects,
    in_run,
    until_day_end,
)
from kafka_dedup.reconcile.settings import describe


def finding(
    kind: str,
    key: Column,
    effect_count: Column,
    ids: Column,
    detail: Column,
    finding_time: Column,
    field: Column | None = None,
    expected: Column | None = None,
    actual: Column | None = None,
) -> Column:
    """The struct of one finding (the classified part of a reconciliation_findings row)."""
    none = F.lit(None).cast("string")
    return F.struct(
        F.lit(kind).alias("finding_type"),
        F.col("event_id").alias("event_id"),
        key.alias("key"),
        F.col("event.event_type").alias("event_type"),
        F.col("event.event_time").alias("event_time"),
        effect_count.cast("int").alias("effect_count"),
        ids.cast("array<string>").alias("effect_ids"),
        (field if field is not None else none).alias("field"),
        (expected if expected is not None else none).alias("expected"),
        (actual if actual is not None else none).alias("actual"),
        detail.alias("detail"),
        finding_time.alias("finding_time"),
    )


def missing_or_pending(rule: Rule) -> list[Column]:
    """An event of the day (or re-checked) short of effects: MISSING, or PENDING in grace."""
    expected = expected_effects(rule.source)
    judged = F.col("event").isNotNull() & (event_in_day(rule) | F.col("recheck"))
    short = judged & (F.col("effect_count") < expected)
    grace_ends = F.col("event.event_time") + F.lit(rule.grace)
    past_grace = grace_ends <= F.lit(rule.as_of)
    missing_detail = F.format_string(
        f"expected %d effect(s) from {rule.source.name} for the event of %s, found %d in the "
        f"whole source as of {rule.as_of.isoformat()} (the {describe(rule.grace)} grace "
        "period is over)",
        expected,
        day_text(F.col("event.event_time")),
        F.col("effect_count"),
    )
    pending_detail = F.format_string(
        f"event of %s: %d of %d effect(s) from {rule.source.name} so far; its grace period "
        "ends at %s, a later run checks it again",
        day_text(F.col("event.event_time")),
        F.col("effect_count"),
        expected,
        F.date_format(grace_ends, "yyyy-MM-dd'T'HH:mm:ssXXX"),
    )

    def of_event(kind: str, detail: Column) -> Column:
        return finding(
            kind,
            F.col("event.key"),
            F.col("effect_count"),
            effect_ids(F.col("effects")),
            detail,
            F.col("event.event_time"),
        )

    return [
        F.when(short & past_grace, of_event(MISSING, missing_detail)),
        F.when(short & ~past_grace, of_event(PENDING, pending_detail)),
    ]


def duplicate(rule: Rule) -> Column:
    """Effects beyond the expected count that happened on the day, whatever the event's day."""
    allowed = allowed_effects(rule.source)
    extras = F.filter("effects", lambda e, i: (i >= allowed) & in_run(rule)(e))
    seen = until_day_end(rule)
    detail = F.format_string(
        f"%d effects in {rule.source.name} for one event of %s (expected %d); extra on %s: %s",
        F.size(seen),
        day_text(F.col("event.event_time")),
        allowed,
        F.lit(rule.day_start.date().isoformat()),
        F.array_join(effect_ids(extras), ", "),
    )
    found = finding(
        DUPLICATE,
        F.col("event.key"),
        F.size(seen),
        effect_ids(seen),
        detail,
        F.coalesce(F.get(extras, 0)["effect_time"], F.col("event.event_time")),
    )
    return F.when(F.col("event").isNotNull() & (F.size(extras) > 0), found)


def late_effect(rule: Rule) -> Column:
    """Expected effects of the day that came more than `lookback` after their event."""
    allowed = allowed_effects(rule.source)
    deadline = F.col("event.event_time") + F.lit(rule.lookback)
    late = F.filter(
        "effects",
        lambda e, i: (i < allowed) & in_run(rule)(e) & (e["effect_time"] > deadline),
    )
    first = F.get(late, 0)
    hours = (
        F.unix_seconds(first["effect_time"]) - F.unix_seconds(F.col("event.event_time"))
    ) / 3600
    detail = F.format_string(
        f"effect %s in {rule.source.name} on %s came %.1f hours after its event of %s, beyond "
        f"the lookback of {describe(rule.lookback)}: review it, never replay (a replay would "
        "make a second effect)",
        F.array_join(effect_ids(late), ", "),
        F.lit(rule.day_start.date().isoformat()),
        hours,
        day_text(F.col("event.event_time")),
    )
    found = finding(
        LATE_EFFECT,
        F.col("event.key"),
        F.size(late),
        effect_ids(late),
        detail,
        first["effect_time"],
    )
    return F.when(F.col("event").isNotNull() & (F.size(late) > 0), found)


def orphan(rule: Rule) -> Column:
    """Effects of the day whose event is not in the log."""
    day_effects = F.filter("effects", in_run(rule))
    detail = F.format_string(
        f"%d effect(s) in {rule.source.name} (%s) name this event, which is not in the log",
        F.size(day_effects),
        F.array_join(effect_ids(day_effects), ", "),
    )
    found = finding(
        ORPHAN,
        F.get(day_effects, 0)["key"],
        F.size(day_effects),
        effect_ids(day_effects),
        detail,
        F.get(day_effects, 0)["effect_time"],
    )
    return F.when(F.col("event").isNull() & (F.size(day_effects) > 0), found)


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
        found = finding(
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
        return F.when(F.col("event").isNotNull() & in_run(rule)(effect) & differs, found)

    return check


def mismatches(rule: Rule) -> list[Column]:
    """Per compared field: for each effect of the day, its finding when the value differs."""
    return [
        F.transform("effects", _mismatch_check(rule, index, field, column))
        for index, (field, column) in enumerate(rule.source.comparisons())
    ]
