"""The findings a summary and the remediation topic need, as DataFrame transformations.

The edge (`writer`) collects them; `summary.build` turns what it collected into the summary.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from kafka_dedup.domain import IDENTITY, REPLAY
from kafka_dedup.reconcile.remediation import EVENT_PAYLOAD
from kafka_dedup.reconcile.rule import between

REPORT_ORDER = ("finding_type", "source", "finding_time", "event_id")


def count_by_hour(findings_df: DataFrame, day_start: datetime, day_end: datetime) -> DataFrame:
    """Findings per (source, class, hour of the day; -1 outside the day): one small job."""
    time = F.col("finding_time")
    hour = F.when(between(time, day_start, day_end), F.hour(time)).otherwise(F.lit(-1))
    return findings_df.groupBy("source", "finding_type", hour.alias("hour")).count()


def select_top(findings_df: DataFrame, top_rows: int) -> DataFrame:
    """The first top_rows findings of each class, in report order."""
    order = Window.partitionBy("finding_type").orderBy(*REPORT_ORDER[1:])
    return (
        findings_df.withColumn("_n", F.row_number().over(order))
        .where(F.col("_n") <= top_rows)
        .drop("_n")
        .orderBy(*REPORT_ORDER)
    )


def with_replay_payloads(findings_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """Findings in publishing order; replay ones with the payload of their event."""
    identity = list(IDENTITY)
    replay_df = findings_df.where(F.col("action") == REPLAY).select(*identity)
    payloads_df = events_df.join(F.broadcast(replay_df), identity, "left_semi").select(
        *identity, F.col("payload").alias(EVENT_PAYLOAD)
    )
    return findings_df.join(payloads_df, identity, "left").orderBy(
        "finding_type", "source", "event_id", "field"
    )
