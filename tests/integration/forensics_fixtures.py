"""A small hand-made warehouse for the forensics tests: every edge the queries must handle.

Written with Spark in two ingest-like rounds so time travel has something to travel to:
round 1 holds k1/e1 (two copies) and k2/e2; round 2 adds a third k1/e1 copy from another
producer, k2/e3 twice with no producer (88 minutes apart), k4/e4, and a malformed record.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.warehouse import Warehouse

TOPIC = "orders"
ROUND_PAUSE_S = 1.1  # commit times must differ clearly for as-of
_BUILT: dict[str, Path] = {}


def ts(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 25, hh, mm, ss, tzinfo=timezone.utc)


def delivery(
    partition: int,
    offset: int,
    at: datetime,
    key: str | None,
    event_id: str | None,
    producer: str | None,
    payload: str | None,
    parse_error: str | None = None,
    event_time: datetime | None = None,
) -> tuple:
    raw_key = key.encode() if key else b"k3"
    raw_value = b"not json" if parse_error else f'{{"event_id":"{event_id}"}}'.encode()
    return (
        TOPIC, partition, offset, at, 0, raw_key, raw_value, [], key, event_id,
        None if parse_error else "order.paid", event_time or (None if parse_error else ts(9, 0)),
        None if parse_error else 1, producer, payload, parse_error, None, at, 1, "q-0",
    )  # fmt: skip


ROUND_1 = [
    delivery(0, 0, ts(10, 0), "k1", "e1", "p1", '{"amount":1}'),
    delivery(0, 1, ts(10, 0, 2), "k1", "e1", "p1", '{"amount":1}'),  # producer retry
    delivery(0, 2, ts(10, 1), "k2", "e2", None, '{"amount":2}'),
]
ROUND_2 = [
    delivery(0, 3, ts(10, 2), "k2", "e3", None, '{"amount":3}', event_time=ts(9, 30)),
    delivery(0, 4, ts(11, 30), "k2", "e3", None, '{"amount":3}', event_time=ts(9, 30)),
    delivery(0, 5, ts(10, 5), "k1", "e1", "p2", '{"amount":1}'),  # application resend
    delivery(0, 6, ts(10, 6), None, None, None, None, parse_error="invalid_json"),
    delivery(1, 0, ts(11, 10), "k4", "e4", "p1", '{"amount":4}'),
]


def event(d: tuple) -> tuple:
    """The events row the ingest keeps for a first-seen delivery."""
    topic, partition, offset, at = d[0], d[1], d[2], d[3]
    key, event_id, event_type, event_time, seq, producer, payload = d[8:15]
    return (
        key, event_id, event_type, event_time, event_time.date(), seq, producer, payload,
        topic, partition, offset, at, at, "stream",
    )  # fmt: skip


def state(d: tuple, updated_at: datetime) -> tuple:
    """The entity_state row a delivery sets."""
    topic, partition, offset = d[0], d[1], d[2]
    key, event_id, event_type, event_time, seq, producer, payload = d[8:15]
    return (
        key, event_id, event_type, event_time, seq, producer, payload,
        topic, partition, offset, updated_at,
    )  # fmt: skip


def table_path(warehouse: Path | str, name: str) -> str:
    """Where the warehouse keeps a table (the database name plays no part in it)."""
    return Warehouse(str(warehouse), "kafka_dedup").location(name)


def _append(spark: SparkSession, warehouse: Path, name: str, rows: list[tuple]) -> None:
    path = table_path(warehouse, name)
    frame = spark.createDataFrame(rows, tables.SCHEMAS[name])
    frame.write.format("delta").mode("append").partitionBy(*tables.PARTITIONING.get(name, [])).save(
        path
    )


def _overwrite(spark: SparkSession, warehouse: Path, name: str, rows: list[tuple]) -> None:
    path = table_path(warehouse, name)
    spark.createDataFrame(rows, tables.SCHEMAS[name]).write.format("delta").mode("overwrite").save(
        path
    )


def build_warehouse(spark: SparkSession, warehouse: Path) -> None:
    """Write the two rounds; entity_state versions: v0 k1,k2(e2); v1 k2->e3; v2 +k4."""
    r1 = ROUND_1
    _append(spark, warehouse, tables.DELIVERIES, r1)
    _append(spark, warehouse, tables.EVENTS, [event(r1[0]), event(r1[2])])
    _overwrite(
        spark, warehouse, tables.ENTITY_STATE, [state(r1[0], ts(12, 0)), state(r1[2], ts(12, 0))]
    )
    time.sleep(ROUND_PAUSE_S)
    r2 = ROUND_2
    _append(spark, warehouse, tables.DELIVERIES, r2)
    _append(spark, warehouse, tables.EVENTS, [event(r2[0]), event(r2[4])])
    state_v1 = [state(r1[0], ts(12, 0)), state(r2[0], ts(13, 0))]
    _overwrite(spark, warehouse, tables.ENTITY_STATE, state_v1)
    _overwrite(spark, warehouse, tables.ENTITY_STATE, [*state_v1, state(r2[4], ts(13, 1))])
    _append(
        spark,
        warehouse,
        tables.QUARANTINE,
        [(TOPIC, 0, 6, ts(10, 6), b"k3", b"not json", "invalid_json", "no JSON", ts(12, 0))],
    )
    _append(
        spark,
        warehouse,
        tables.INGEST_BATCHES,
        [("run-1", "events", 0, ts(12, 0), 10, 8, 1, 1, 2, 1, 4, 3, ts(10, 0))],
    )


def handmade_warehouse(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made warehouse, written once per test run and shared by the modules using it."""
    if "root" not in _BUILT:
        root = tmp_path_factory.mktemp("forensics-handmade")
        build_warehouse(spark, root)
        _BUILT["root"] = root
    return _BUILT["root"]
