"""One source judged for one run day: a windowed pass, then a look-up over everything held.

The windowed pass classifies the day's events and effects with their neighbours (`lookback`
either side). Groups it cannot settle from the window - an effect whose event is not in it
(ORPHAN or a late effect), an event without its effects (MISSING), an event an earlier run
left PENDING - are classified again from the whole log and the whole source as of the run,
so no replay is asked for while any effect of the event exists anywhere.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.domain import MISSING, ORPHAN
from kafka_dedup.reconcile import classify, sources
from kafka_dedup.reconcile.actions import with_run_columns
from kafka_dedup.reconcile.context import Run, read_events
from kafka_dedup.reconcile.rule import GROUP_KEY, Rule, between, group_key, select_identities
from kafka_dedup.reconcile.settings import Source

BROADCAST_ROWS = 1_000_000  # identities small enough to ship to every task
JOIN_KEY = "_identity_key"
UNSETTLED = (ORPHAN, MISSING)  # the window cannot settle these: looked up everywhere


def _with_join_key(df: DataFrame, source: Source, key: Column) -> DataFrame:
    """A non-null key column to join identities on (null keys must still meet each other)."""
    return df.withColumn(JOIN_KEY, F.coalesce(group_key(source, key), F.lit("")))


def _as_of(run: Run, effects_df: DataFrame) -> DataFrame:
    """Effects the run may see: nothing after as_of, so a re-run as of the same time agrees."""
    time = F.col("effect_time")
    return effects_df.where(
        F.col("malformed").isNull() & (time.isNull() | (time <= F.lit(run.as_of)))
    )


def _rule(run: Run, source: Source) -> Rule:
    settings = run.settings
    return Rule(source, run.day_start, run.day_end, run.as_of, settings.grace, settings.lookback)


def _look_up(
    run: Run,
    source: Source,
    window_df: DataFrame,
    effects_df: DataFrame,
    recheck_df: DataFrame | None,
) -> DataFrame:
    """Replace the unsettled groups' findings by a classification from everything held."""
    unsettled_df = select_identities(
        window_df.where(F.col("finding_type").isin(*UNSETTLED)), source
    )
    if recheck_df is not None:
        unsettled_df = unsettled_df.unionByName(recheck_df)
    ids_df = _with_join_key(unsettled_df, source, F.col(GROUP_KEY))
    ids_df = ids_df.select(JOIN_KEY, "event_id").distinct().localCheckpoint(eager=True)
    count = ids_df.count()
    if count == 0:
        return window_df
    if count <= BROADCAST_ROWS:
        # few groups: look them up while reading the log and the source instead of shuffling
        ids_df = F.broadcast(ids_df)
    on = [JOIN_KEY, "event_id"]
    log_df = run.lake.read(tables.EVENTS)
    events_df = _with_join_key(log_df, source, F.col("key")).join(ids_df, on, "left_semi")
    held_df = _with_join_key(effects_df, source, F.col("key")).join(ids_df, on, "left_semi")
    grouped_df = classify.group_by_event(events_df, held_df, source, recheck_df)
    found_df = classify.classify(grouped_df, _rule(run, source))
    settled_df = _with_join_key(window_df, source, F.col("key")).join(ids_df, on, "left_anti")
    return settled_df.drop(JOIN_KEY).unionByName(found_df)


def _malformed_rows(run: Run, normalized_df: DataFrame) -> list[dict]:
    rows = (
        normalized_df.where(_malformed_here(run))
        .select(F.col("malformed").alias("reason"), F.col("row_json").alias("row"))
        .limit(run.settings.top_rows)
        .collect()
    )
    return [r.asDict() for r in rows]


def _malformed_here(run: Run) -> Column:
    """Malformed rows this run counts: those of the day, and those with no usable time."""
    time = F.col("effect_time")
    in_day = between(time, run.day_start, run.day_end)
    return F.col("malformed").isNotNull() & (time.isNull() | in_day)


def classify_source(
    run: Run, source: Source, raw_df: DataFrame, recheck_df: DataFrame | None
) -> tuple[DataFrame, dict]:
    """One source's findings of the run day (persisted) and its counters."""
    run.progress.step(f"classifying {source.name} ({source.format} {source.location()})")
    observation = Observation(f"effects_{source.name}_{run.run_id}")
    normalized_df = sources.normalize_effects(raw_df, source)
    observed_df = normalized_df.observe(
        observation,
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(_malformed_here(run), F.lit(1))).alias("malformed"),
    )
    lookback = run.settings.lookback
    start, end = run.day_start - lookback, run.day_end + lookback
    window_effects_df = sources.filter_effects_window(
        _as_of(run, observed_df), start - lookback, end
    )
    grouped_df = classify.group_by_event(read_events(run, start, end), window_effects_df, source)
    window_df = classify.classify(grouped_df, _rule(run, source)).persist()
    window_df.count()
    metrics = observation.get
    run.progress.step(f"looking up the unsettled events and effects of {source.name}")
    found_df = _look_up(run, source, window_df, _as_of(run, normalized_df), recheck_df)
    findings_df = with_run_columns(found_df, run.run_date, source.name, run.partial).persist()
    findings_df.count()  # fills the cache from window_df before window_df is dropped
    window_df.unpersist()
    malformed = int(metrics.get("malformed") or 0)
    stats = {
        "effects_read": int(metrics.get("rows") or 0),
        "malformed": malformed,
        "malformed_rows": _malformed_rows(run, normalized_df) if malformed else [],
    }
    return findings_df, stats
