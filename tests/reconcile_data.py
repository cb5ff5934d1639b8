"""Small inline warehouses for the reconcile tests: events, deliveries and effect rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import tables
from kafka_dedup.reconcile import classify, sources
from kafka_dedup.reconcile.settings import Source, parse_source
from kafka_dedup.warehouse import Warehouse

UTC = timezone.utc
DATABASE = "reconcile_test"
EFFECTS_SCHEMA = (
    "charge_id string, event_id string, order_id string, amount string, charged_at string"
)
PAYMENTS = {
    "name": "payments",
    "format": "parquet",
    "path": "unused",
    "key_column": "order_id",
    "effect_id_column": "charge_id",
    "effect_time_column": "charged_at",
    "expects_event_types": ["order.paid"],
    "compare": {"payload.amount": "amount"},
}


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A time in November 2026, UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def _ordered(values: dict[str, Any], schema: Any) -> tuple[Any, ...]:
    return tuple(values.get(name) for name in schema.fieldNames())


def event_row(
    key: str, event_id: str, event_type: str, time: datetime, amount: float | None, offset: int = 0
) -> tuple[Any, ...]:
    """One `events` row, as the stream merged it."""
    payload = json.dumps({"amount": amount}) if amount is not None else "{}"
    values = {
        "key": key,
        "event_id": event_id,
        "event_type": event_type,
        "event_time": time,
        "event_date": time.date(),
        "sequence": 2,
        "producer_id": "checkout-1",
        "payload": payload,
        "topic": "orders",
        "partition": 0,
        "offset": offset,
        "kafka_timestamp": time,
        "ingested_at": time,
        "merged_by": "stream",
    }
    return _ordered(values, tables.EVENTS_SCHEMA)


def delivery_row(
    key: str | None,
    event_id: str | None,
    event_type: str,
    time: datetime | None,
    amount: float | None,
    offset: int,
    parse_error: str | None = None,
    ingested: datetime | None = None,
) -> tuple[Any, ...]:
    """One `deliveries` row; a parse_error marks it malformed; ingested: when it was read."""
    kafka_time = ingested or time or at(25, 0)
    values = {
        "topic": "orders",
        "partition": 0,
        "offset": offset,
        "kafka_timestamp": kafka_time,
        "kafka_timestamp_type": 0,
        "raw_key": (key or "").encode(),
        "raw_value": b"{}",
        "key": key,
        "event_id": event_id,
        "event_type": event_type,
        "event_time": time,
        "sequence": 2,
        "producer_id": "checkout-1",
        "payload": json.dumps({"amount": amount}) if amount is not None else None,
        "parse_error": parse_error,
        "ingested_at": kafka_time,
        "ingest_batch_id": 0,
        "ingest_query_id": "q-0",
    }
    return _ordered(values, tables.DELIVERIES_SCHEMA)


def delivery_of(event: tuple[Any, ...]) -> tuple[Any, ...]:
    """The valid delivery an `events` row was merged from."""
    values = dict(zip(tables.EVENTS_SCHEMA.fieldNames(), event, strict=True))
    amount = json.loads(values["payload"]).get("amount")
    fields = ("key", "event_id", "event_type", "event_time")
    return delivery_row(*(values[f] for f in fields), amount, values["offset"])


def write_warehouse(
    spark: SparkSession,
    warehouse: Path,
    events: list[tuple[Any, ...]],
    deliveries: list[tuple[Any, ...]],
) -> None:
    """Write `events` (partitioned like ingest does) and `deliveries` as Delta tables."""
    lake = Warehouse(str(warehouse), DATABASE)  # paths only: the tables are not registered
    events_df = spark.createDataFrame(events, tables.EVENTS_SCHEMA)
    (
        events_df.write.format("delta")
        .partitionBy("event_date")
        .mode("overwrite")
        .save(lake.location(tables.EVENTS))
    )
    deliveries_df = spark.createDataFrame(deliveries, tables.DELIVERIES_SCHEMA)
    deliveries_df.write.format("delta").mode("overwrite").save(lake.location(tables.DELIVERIES))


def read_table(spark: SparkSession, warehouse: Path, name: str) -> DataFrame:
    """A warehouse table as written."""
    return Warehouse(str(warehouse), DATABASE, spark).read(name)


def jdbc_source(name: str, url: str) -> dict[str, Any]:
    """The reference consumer's `charges` table as a reconcile source."""
    return {
        "name": name,
        "format": "jdbc",
        "url": url,
        "table": "charges",
        "key_column": "order_id",
        "effect_id_column": "charge_id",
        "effect_time_column": "charged_at",
        "expects_event_types": ["order.paid"],
        "compare": {"payload.amount": "amount"},
    }


def classify_rows(
    spark: SparkSession,
    events: list[tuple[Any, ...]],
    effects: list[tuple[Any, ...]],
    source: Source | None = None,
    as_of: datetime | None = None,
    day: datetime | None = None,
) -> DataFrame:
    """Events and raw effect rows (EFFECTS_SCHEMA) -> classified findings of the run of `day`
    (default 2026-11-25, as of two days later), everything in view."""
    source = source or parse_source(0, PAYMENTS)
    day = day or at(25, 0)
    events_df = spark.createDataFrame(events, tables.EVENTS_SCHEMA)
    raw_df = spark.createDataFrame(effects, EFFECTS_SCHEMA)
    effects_df = sources.normalize_effects(raw_df, source).where("malformed IS NULL")
    grouped_df = classify.group_by_event(events_df, effects_df, source)
    rule = classify.Rule(
        source, day, day + timedelta(days=1), as_of or at(27, 0), timedelta(hours=1)
    )
    return classify.classify(grouped_df, rule)
