"""A MERGE that loses a commit race to another writer of the table is run again, not failed.

The other writer is real: while Spark's MERGE into `events` runs, a Python UDF in its source
commits an append to the same partition with delta-rs (the `deltalake` package), so Delta
fails the MERGE's commit with ConcurrentAppendException, as it would when the nightly
reconcile and the streaming ingest write `events` at the same moment.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from deltalake import DeltaTable as RustDeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import eventlog, tables
from kafka_dedup.warehouse import Warehouse
from tests.integration.delta_race import append_once

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 25)


def event_row(n: int) -> dict:
    at = datetime(2026, 11, 25, 8, n, tzinfo=timezone.utc)
    values = {
        "key": f"k{n}",
        "event_id": f"e{n}",
        "event_type": "order.created",
        "event_time": at,
        "event_date": DAY,
        "sequence": n,
        "topic": "orders",
        "partition": 0,
        "offset": n,
        "kafka_timestamp": at,
        "producer_id": "p1",
        "payload": "{}",
        "merged_at": at,
        "merged_by": "ingest",
    }
    return {f.name: values.get(f.name) for f in tables.EVENTS_SCHEMA.fields}


def test_an_insert_merge_that_loses_a_commit_race_is_run_again(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "conflicts", spark)
    lake.ensure(tables.EVENTS)
    path = lake.location(tables.EVENTS)
    other = event_row(50)
    udf = append_once(path, str(tmp_path / "appended"), other)
    source = spark.createDataFrame([event_row(n) for n in range(3)], tables.EVENTS_SCHEMA)
    racing = source.withColumn("key", udf("key"))

    with caplog.at_level(logging.INFO, logger="kafka_dedup"):
        inserted = eventlog.merge_events(lake.table(tables.EVENTS), racing, [DAY])

    assert inserted == 3
    assert (tmp_path / "appended").exists()
    rows = sorted((r.key, r.event_id) for r in lake.read(tables.EVENTS).collect())
    assert rows == [("k0", "e0"), ("k1", "e1"), ("k2", "e2"), ("k50", "e50")]
    operations = [h["operation"] for h in RustDeltaTable(path).history()][::-1]
    assert operations[1:] == ["WRITE", "MERGE"]  # delta-rs's append first, then the retry
    retried = [r.getMessage() for r in caplog.records if "ConcurrentAppendException" in r.message]
    assert retried and retried[0].startswith("MERGE into events: ConcurrentAppendException")
