"""Synthetic reconcile input: N order.paid events and ~N charges with 1% planted discrepancies.

One event per order, spread over BENCH_DAY. For every PLANT_EVERY ids, one event of each of
four kinds is planted, plus one orphan charge: 5 discrepancies per 500 events = 1%.
  plant 0: MISSING    (no charge)
  plant 1: DUPLICATE  (a second charge an hour later: the next day's, after 23:00)
  plant 2: MISMATCH   (charged amount + 1.00)
  plant 3: UNMERGED   (in deliveries, not in events: the stream's watermark dropped it)
  orphans: charges naming an event_id that is in no table
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import domain, tables
from kafka_dedup.warehouse import Warehouse

BENCH_DAY = date(2026, 11, 25)
PLANT_EVERY = 500
# which discrepancy an event plants (plant = id % PLANT_EVERY)
PLANT_MISSING, PLANT_DUPLICATE, PLANT_MISMATCH, PLANT_UNMERGED = 0, 1, 2, 3
PARTITIONS = 8
DAY_MICROS = 86_400_000_000
CHARGE_AFTER_S, DUPLICATE_AFTER_S = 30, 3600  # a charge, and a planted second charge


def _start_micros() -> int:
    start = datetime(BENCH_DAY.year, BENCH_DAY.month, BENCH_DAY.day, tzinfo=timezone.utc)
    return int(start.timestamp() * 1_000_000)


def base_df(spark: SparkSession, n_events: int) -> DataFrame:
    """One logical order.paid event per id, evenly spread over the day."""
    step = DAY_MICROS // n_events
    event_time = F.timestamp_micros(F.lit(_start_micros()) + F.col("id") * F.lit(step))
    amount = F.round((F.col("id") % 50_000) / 100 + 1, 2)
    return spark.range(n_events, numPartitions=PARTITIONS).select(
        "id",
        F.format_string("order-%09d", "id").alias("key"),
        F.md5(F.col("id").cast("string")).alias("event_id"),
        event_time.alias("event_time"),
        amount.alias("amount"),
        (F.col("id") % PLANT_EVERY).alias("plant"),
    )


def _payload(amount: Column) -> Column:
    return F.format_string('{"amount":%.2f,"currency":"EUR"}', amount)


def _seconds(column: Column, seconds: int) -> Column:
    return column + F.make_interval(secs=F.lit(seconds))


def events_df(base: DataFrame) -> DataFrame:
    """What the stream merged: every event but the UNMERGED ones."""
    return base.where(F.col("plant") != PLANT_UNMERGED).select(
        "key",
        "event_id",
        F.lit("order.paid").alias("event_type"),
        "event_time",
        F.to_date("event_time").alias("event_date"),
        F.lit(2).cast("long").alias("sequence"),
        F.lit("payments-1").alias("producer_id"),
        _payload(F.col("amount")).alias("payload"),
        F.lit("orders").alias("topic"),
        (F.col("id") % 12).cast("int").alias("partition"),
        (F.col("id") / 12).cast("long").alias("offset"),
        F.col("event_time").alias("kafka_timestamp"),
        _seconds(F.col("event_time"), 2).alias("ingested_at"),
        F.lit("stream").alias("merged_by"),
    )


def deliveries_df(base: DataFrame) -> DataFrame:
    """Every delivery read from Kafka, one copy per event, with its raw bytes."""
    envelope = F.format_string(
        '{"event_id":"%s","event_type":"order.paid","event_time":"%s","sequence":2,'
        '"producer_id":"payments-1","payload":%s}',
        "event_id",
        F.date_format("event_time", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"),
        _payload(F.col("amount")),
    )
    return base.select(
        F.lit("orders").alias("topic"),
        (F.col("id") % 12).cast("int").alias("partition"),
        (F.col("id") / 12).cast("long").alias("offset"),
        F.col("event_time").alias("kafka_timestamp"),
        F.lit(0).alias("kafka_timestamp_type"),
        F.col("key").cast("binary").alias("raw_key"),
        envelope.cast("binary").alias("raw_value"),
        F.lit(None).cast(tables.HEADERS_TYPE).alias("headers"),
        "key",
        "event_id",
        F.lit("order.paid").alias("event_type"),
        "event_time",
        F.lit(2).cast("long").alias("sequence"),
        F.lit("payments-1").alias("producer_id"),
        _payload(F.col("amount")).alias("payload"),
        F.lit(None).cast("string").alias("parse_error"),
        F.lit(None).cast("string").alias("parse_error_detail"),
        _seconds(F.col("event_time"), 2).alias("ingested_at"),
        F.lit(0).cast("long").alias("ingest_batch_id"),
    )


def entity_state_df(base: DataFrame) -> DataFrame:
    """The latest version per order (one event per order here)."""
    return events_df(base).select(
        *[c for c in tables.ENTITY_STATE_SCHEMA.fieldNames() if c != "updated_at"],
        F.col("ingested_at").alias("updated_at"),
    )


def charges_df(spark: SparkSession, base: DataFrame, n_events: int) -> DataFrame:
    """The payments service's charges: one per event, with the planted discrepancies."""
    charged_at = _seconds(F.col("event_time"), CHARGE_AFTER_S)
    amount = F.col("amount") + F.when(F.col("plant") == PLANT_MISMATCH, 1.0).otherwise(0.0)
    charged_df = base.where(F.col("plant") != PLANT_MISSING).select(
        F.concat(F.lit("ch-"), F.col("id").cast("string")).alias("charge_id"),
        "event_id",
        F.col("key").alias("order_id"),
        amount.alias("amount"),
        charged_at.alias("charged_at"),
    )
    again_df = base.where(F.col("plant") == PLANT_DUPLICATE).select(
        F.concat(F.lit("ch-"), F.col("id").cast("string"), F.lit("-again")).alias("charge_id"),
        "event_id",
        F.col("key").alias("order_id"),
        F.col("amount"),
        _seconds(F.col("event_time"), DUPLICATE_AFTER_S).alias("charged_at"),
    )
    step = DAY_MICROS // (n_events // PLANT_EVERY)
    orphans_df = spark.range(n_events // PLANT_EVERY, numPartitions=1).select(
        F.concat(F.lit("ch-orphan-"), F.col("id").cast("string")).alias("charge_id"),
        F.md5(F.concat(F.lit("orphan-"), F.col("id").cast("string"))).alias("event_id"),
        F.lit("order-unknown").alias("order_id"),
        F.lit(9.99).alias("amount"),
        F.timestamp_micros(F.lit(_start_micros()) + F.col("id") * F.lit(step)).alias("charged_at"),
    )
    return charged_df.unionByName(again_df).unionByName(orphans_df)


def generate(spark: SparkSession, folder: Path, n_events: int) -> None:
    """Write the warehouse (Delta) and the charges (Parquet) under folder."""
    lake = Warehouse(str(folder / "warehouse"), "bench")  # paths only: bench_reconcile runs it
    base = base_df(spark, n_events)
    events_df(base).write.format("delta").partitionBy("event_date").mode("overwrite").save(
        lake.location(tables.EVENTS)
    )
    for name, frame in (
        (tables.DELIVERIES, deliveries_df(base)),
        (tables.ENTITY_STATE, entity_state_df(base)),
    ):
        frame.write.format("delta").mode("overwrite").save(lake.location(name))
    charges_df(spark, base, n_events).write.mode("overwrite").parquet(str(folder / "charges"))


def _charged_on_the_day(n_events: int, plant: int, after_s: int) -> int:
    """Planted events whose charge `after_s` after the event still falls on BENCH_DAY.

    Each charge is judged by the run of the day it happened: a second charge an hour after
    an event of 23:30 is a DUPLICATE of the next day's run, not of this one.
    """
    step = DAY_MICROS // n_events
    ids = range(plant, n_events, PLANT_EVERY)
    return sum(1 for i in ids if i * step + after_s * 1_000_000 < DAY_MICROS)


def expected_counts(n_events: int) -> dict[str, int]:
    """What a correct run of BENCH_DAY finds (n_events is a multiple of PLANT_EVERY)."""
    per_class = n_events // PLANT_EVERY
    return {
        domain.MISSING: per_class,
        domain.DUPLICATE: _charged_on_the_day(n_events, PLANT_DUPLICATE, DUPLICATE_AFTER_S),
        domain.ORPHAN: per_class,
        domain.MISMATCH: _charged_on_the_day(n_events, PLANT_MISMATCH, CHARGE_AFTER_S),
        domain.UNMERGED: per_class,
    }
