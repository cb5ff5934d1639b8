"""Classification of one source's effects against the event log, as pure DataFrame transformations.

Events and effects are unioned and grouped by identity, (key, event_id), once (one shuffle).
Each group yields the findings of one run day D:
- of its event, when the event is of day D or re-checked from an earlier run: MISSING, or
  PENDING while the event is inside its grace period;
- of its effects that happened on day D, whatever day the event is of: DUPLICATE (an effect
  beyond the expected count), LATE_EFFECT (more than `lookback` after its event), MISMATCH,
  and ORPHAN (no event in the log).
The rule's columns live in `rule`, one column per finding class in `finding_columns`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kafka_dedup.reconcile import finding_columns
from kafka_dedup.reconcile.compare import event_value, values_differ
from kafka_dedup.reconcile.rule import (
    GROUP_KEY,
    Rule,
    event_in_day,
    expected_effects,
    group_key,
)
from kafka_dedup.reconcile.settings import Source


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


def _worth_a_look(rule: Rule) -> Column:
    """Cheap scalar test that a group may hold a finding; the clean majority stops here.

    Higher-order functions (transform, filter) are evaluated row by row without code
    generation, so they only run behind this test (CASE WHEN evaluates lazily).
    """
    count = F.col("effect_count")
    expected = expected_effects(rule.source)
    first_effect = F.get("effects", 0)  # get: null, not an error, outside the list
    last_effect = F.get("effects", count - 1)
    is_late = last_effect["effect_time"] > F.col("event.event_time") + F.lit(rule.lookback)
    look = F.col("event").isNull() | (count > F.greatest(expected, F.lit(1))) | is_late
    look = look | ((event_in_day(rule) | F.col("recheck")) & (count < expected))
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
        F.array(
            *finding_columns.missing_or_pending(rule),
            finding_columns.duplicate(rule),
            finding_columns.late_effect(rule),
            finding_columns.orphan(rule),
        ),
        *finding_columns.mismatches(rule),
    )
    findings = F.filter(candidates, lambda finding: finding.isNotNull())
    # explode(null) yields no row: a group not worth a look costs no array work at all
    look_df = grouped_df.select(F.when(_worth_a_look(rule), findings).alias("found"))
    return look_df.select(F.explode("found").alias("f")).select("f.*")
