"""merge: in-batch dedup keeps the first copy, entity_state only moves to newer versions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import tables
from kafka_dedup.ingest import merge

T0 = dt.datetime(2026, 11, 25, 10, 0)


def deliveries(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (offset, key, event_id, sequence, event_time, parse_error)."""
    full = [
        ("orders", 0, off, T0 + dt.timedelta(seconds=off), 0, None, None, None, key, event_id,
         "order.paid", time, seq, "p-1", "{}", error, None, T0, 0, "q-0")
        for off, key, event_id, seq, time, error in rows
    ]  # fmt: skip
    return spark.createDataFrame(full, tables.DELIVERIES_SCHEMA)


def test_dedup_batch_keeps_the_first_seen_copy(spark: SparkSession) -> None:
    batch_df = deliveries(
        spark,
        [(5, "k1", "e1", 1, T0, None), (2, "k1", "e1", 1, T0, None), (3, "k2", "e1", 1, T0, None)],
    )
    rows = sorted((r.key, r.event_id, r.offset) for r in merge.dedup_batch(batch_df).collect())
    assert rows == [("k1", "e1", 2), ("k2", "e1", 3)]


def test_latest_per_key_orders_by_sequence_then_time_with_null_lowest(spark: SparkSession) -> None:
    later = T0 + dt.timedelta(minutes=5)
    events_df = merge.to_events(
        deliveries(
            spark,
            [
                (1, "k1", "a", 2, T0, None),
                (2, "k1", "b", 1, later, None),  # later but an older version
                (3, "k2", "c", None, later, None),  # no sequence: lowest
                (4, "k2", "d", 1, T0, None),
                (5, "k3", "e", 1, T0, None),
                (6, "k3", "f", 1, later, None),  # same version, later time wins
            ],
        ),
        merge.MERGED_BY_STREAM,
    )
    rows = sorted((r.key, r.event_id) for r in merge.latest_per_key(events_df).collect())
    assert rows == [("k1", "a"), ("k2", "d"), ("k3", "f")]


def test_merges_are_idempotent_and_never_go_back(spark: SparkSession, tmp_path: Path) -> None:
    warehouse, database = str(tmp_path), "merge_unit"
    first = deliveries(
        spark,
        [
            (1, "k1", "a", 1, T0, None),
            (2, "k1", "b", 3, T0, None),
            (3, "bad", None, None, None, "x"),
        ],
    )
    counts = merge.merge_deliveries(spark, warehouse, database, first, "stream", merge.Txn("t", 0))
    assert counts == merge.MergeCounts(2, 2, 0, 1)
    # the same batch id again (a re-run after a crash) is skipped by Delta
    merge.merge_deliveries(spark, warehouse, database, first, "stream", merge.Txn("t", 0))
    # a replay of version 1, an exact replay of 3, and a genuinely new version 2 (older)
    second = deliveries(
        spark,
        [(4, "k1", "a", 1, T0, None), (5, "k1", "b", 3, T0, None), (6, "k1", "c", 2, T0, None)],
    )
    counts = merge.merge_deliveries(spark, warehouse, database, second, "stream", merge.Txn("t", 1))
    assert (counts.inserted, counts.duplicates_caught_by_merge, counts.state_updates) == (1, 2, 0)

    events = spark.read.format("delta").load(tables.location(warehouse, tables.EVENTS))
    assert sorted((r.key, r.event_id, r.offset) for r in events.collect()) == [
        ("k1", "a", 1),
        ("k1", "b", 2),
        ("k1", "c", 6),
    ]
    state = spark.read.format("delta").load(tables.location(warehouse, tables.ENTITY_STATE))
    assert [(r.key, r.event_id, r.sequence) for r in state.collect()] == [("k1", "b", 3)]
