"""merge: in-batch dedup keeps the first copy, entity_state only moves to newer versions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.warehouse import Warehouse

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
    rows = sorted((r.key, r.event_id, r.offset) for r in eventlog.dedup_batch(batch_df).collect())
    assert rows == [("k1", "e1", 2), ("k2", "e1", 3)]


def test_latest_per_key_orders_by_sequence_then_time_with_null_lowest(spark: SparkSession) -> None:
    later = T0 + dt.timedelta(minutes=5)
    events_df = eventlog.to_events(
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
        domain.MERGED_BY_STREAM,
    )
    rows = sorted((r.key, r.event_id) for r in eventlog.latest_per_key(events_df).collect())
    assert rows == [("k1", "a"), ("k2", "d"), ("k3", "f")]


def test_merges_are_idempotent_and_never_go_back(spark: SparkSession, tmp_path: Path) -> None:
    lake = Warehouse(str(tmp_path), "merge_unit", spark)
    lake.ensure(tables.EVENTS, tables.ENTITY_STATE)
    events, state = lake.table(tables.EVENTS), lake.table(tables.ENTITY_STATE)

    def merge_batch(batch_df: DataFrame) -> eventlog.MergeCounts:
        return eventlog.merge_deliveries(events, state, batch_df, domain.MERGED_BY_STREAM)

    first = deliveries(
        spark,
        [
            (1, "k1", "a", 1, T0, None),
            (2, "k1", "b", 3, T0, None),
            (3, "bad", None, None, None, "x"),
        ],
    )
    assert merge_batch(first) == eventlog.MergeCounts(2, 2, 0, 1)
    versions = (events.history(1).first().version, state.history(1).first().version)
    # the same batch again (a re-run after a crash): every row is caught, and Delta commits
    # nothing, so neither table gets a new version
    assert merge_batch(first) == eventlog.MergeCounts(2, 0, 2, 0)
    assert (events.history(1).first().version, state.history(1).first().version) == versions
    # a replay of version 1, an exact replay of 3, and a genuinely new version 2 (older)
    second = deliveries(
        spark,
        [(4, "k1", "a", 1, T0, None), (5, "k1", "b", 3, T0, None), (6, "k1", "c", 2, T0, None)],
    )
    counts = merge_batch(second)
    assert (counts.inserted, counts.duplicates_caught_by_merge, counts.state_updates) == (1, 2, 0)

    assert sorted((r.key, r.event_id, r.offset) for r in lake.read(tables.EVENTS).collect()) == [
        ("k1", "a", 1),
        ("k1", "b", 2),
        ("k1", "c", 6),
    ]
    rows = [(r.key, r.event_id, r.sequence) for r in lake.read(tables.ENTITY_STATE).collect()]
    assert rows == [("k1", "b", 3)]


def test_filter_newer_keeps_new_keys_and_newer_versions_with_or_without_broadcast(
    spark: SparkSession,
) -> None:
    schema = "key string, sequence long, event_time timestamp"
    later = T0 + dt.timedelta(seconds=1)
    state_df = spark.createDataFrame(
        [("k1", 3, T0), ("k2", 1, T0), ("k4", 7, T0), ("k5", None, T0)], schema
    )
    latest_df = spark.createDataFrame(
        [("k1", 2, later), ("k2", 5, T0), ("k3", 1, T0), ("k4", 7, later), ("k5", None, T0)],
        schema,
    )
    for broadcast in (True, False):
        kept = eventlog.filter_newer(latest_df, state_df, broadcast).collect()
        assert sorted((r.key, r.sequence) for r in kept) == [("k2", 5), ("k3", 1), ("k4", 7)]


def test_entity_state_gets_deletion_vectors_at_creation_and_on_upgrade(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Warehouse(str(tmp_path), "merge_dv", spark)
    lake.ensure(tables.ENTITY_STATE, tables.EVENTS)

    def properties(name: str) -> dict[str, str]:
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.location(name)}`").first()
        return dict(detail["properties"])

    assert properties(tables.ENTITY_STATE)["delta.enableDeletionVectors"] == "true"
    assert "delta.enableDeletionVectors" not in properties(tables.EVENTS)
    # a table created by a version without the property gets it on the next ensure
    spark.sql(
        f"ALTER TABLE delta.`{lake.location(tables.ENTITY_STATE)}` "
        "SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'false')"
    )
    lake.ensure(tables.ENTITY_STATE)
    assert properties(tables.ENTITY_STATE)["delta.enableDeletionVectors"] == "true"
