"""UNMERGED: valid deliveries whose (key, event_id) is absent from `events` (e.g. too late
for the stream's watermark). The run reports them and merges them."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kafka_dedup.domain import FIRST_SEEN_ORDER, IDENTITY, UNMERGED
from kafka_dedup.reconcile.settings import describe


def filter_valid_deliveries(deliveries_df: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """Parseable deliveries whose event_time lies in [start, end)."""
    in_window = (F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end))
    return deliveries_df.where(F.col("parse_error").isNull() & in_window)


def find_unmerged(valid_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """One row per (key, event_id) delivered but not in events: copies and first coordinates.

    events_df is expected to be pruned to the same window; the join also matches on
    event_date, the events partition column, so only those partitions are read.
    """
    delivered_df = valid_df.withColumn("event_date", F.to_date("event_time"))
    logged_df = events_df.select(*IDENTITY, "event_date")
    first_seen = F.struct(*FIRST_SEEN_ORDER)  # the copy eventlog.dedup_batch keeps
    return (
        delivered_df.join(logged_df, on=[*IDENTITY, "event_date"], how="left_anti")
        .groupBy(*IDENTITY)
        .agg(
            F.count(F.lit(1)).alias("copies"),
            F.min(first_seen).alias("first"),
            F.min("event_type").alias("event_type"),
            F.min("event_time").alias("event_time"),
        )
    )


def filter_stale_deliveries(
    deliveries_df: DataFrame, start: datetime, end: datetime, older_than: datetime
) -> DataFrame:
    """Parseable deliveries ingested in [start, end) whose event_time is before older_than.

    Each delivery is ingested on one day, so exactly one run (that day's) looks at it.
    """
    ingested = (F.col("ingested_at") >= F.lit(start)) & (F.col("ingested_at") < F.lit(end))
    too_old = F.col("event_time") < F.lit(older_than)
    return deliveries_df.where(F.col("parse_error").isNull() & ingested & too_old)


def to_findings(
    unmerged_df: DataFrame, kind: str = UNMERGED, outcome: str = "merged into events by reconcile"
) -> DataFrame:
    """UNMERGED (or UNMERGEABLE) rows shaped as findings (without run_date, source, action)."""
    first = F.col("first")
    detail = F.format_string(
        f"%d valid deliver%s absent from events (first %s[%d]@%d, Kafka time %s); {outcome}",
        F.col("copies"),
        F.when(F.col("copies") == 1, F.lit("y")).otherwise(F.lit("ies")),
        first["topic"],
        first["partition"],
        first["offset"],
        F.coalesce(first["kafka_timestamp"].cast("string"), F.lit("unknown")),
    )
    return unmerged_df.select(
        F.lit(kind).alias("finding_type"),
        "event_id",
        "key",
        "event_type",
        "event_time",
        F.lit(None).cast("int").alias("effect_count"),
        F.array().cast("array<string>").alias("effect_ids"),
        F.lit(None).cast("string").alias("field"),
        F.lit(None).cast("string").alias("expected"),
        F.lit(None).cast("string").alias("actual"),
        detail.alias("detail"),
        F.col("event_time").alias("finding_time"),
    )


def select_deliveries_of(
    valid_df: DataFrame, findings_df: DataFrame, broadcast: bool = False
) -> DataFrame:
    """The delivery rows of the events named by UNMERGED findings (input to the merge).

    broadcast: the findings are few, so the deliveries are filtered where they are read
    instead of being shuffled to meet them.
    """
    wanted_df = findings_df.select(*IDENTITY).distinct()
    wanted_df = F.broadcast(wanted_df) if broadcast else wanted_df
    return valid_df.join(wanted_df, list(IDENTITY), "left_semi")


def stale_outcome(late_lookback: timedelta) -> str:
    """What the run did about a delivery older than late_lookback, and what a person can do."""
    return (
        f"older than the late_lookback of {describe(late_lookback)}, so not merged: raise "
        "reconcile.late_lookback and re-run, or merge it by hand"
    )
