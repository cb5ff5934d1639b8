"""A run killed inside the events query's first batch, after the events MERGE and before the
entity_state MERGE: the next run re-runs that batch and entity_state gets its keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import offsets, streams
from kafka_dedup.ingest.batches import BatchLedger
from kafka_dedup.warehouse import Warehouse

T0 = dt.datetime(2026, 11, 30, 10, 0)


class KilledError(RuntimeError):
    """Stands for the SIGKILL between the two MERGEs of a batch."""


def _deliveries(spark: SparkSession, first_offset: int, keys: list[str]) -> DataFrame:
    rows = [
        ("orders", 0, first_offset + n, T0, 0, None, None, None, key, f"e-{key}",
         "order.created", T0 + dt.timedelta(seconds=n), 1, "p-1", "{}", None, None, T0, 0, "q")
        for n, key in enumerate(keys)
    ]  # fmt: skip
    return spark.createDataFrame(rows, tables.DELIVERIES_SCHEMA)


def _append(spark: SparkSession, lake: Warehouse, first_offset: int, keys: list[str]) -> None:
    _deliveries(spark, first_offset, keys).write.format("delta").mode("append").save(
        lake.location(tables.DELIVERIES)
    )


def _resume(lake: Warehouse, config: Config) -> offsets.Resume:
    checkpoint = streams.checkpoint(config, streams.EVENTS_QUERY)
    return offsets.Resume(
        offsets.Written(), {}, {}, "earliest", offsets.events_starting_version(lake, checkpoint)
    )


def test_first_batch_rerun_after_a_kill_between_the_merges_updates_entity_state(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        base_config,
        storage=dataclasses.replace(
            base_config.storage,
            warehouse=str(tmp_path / "warehouse"),
            checkpoints=str(tmp_path / "checkpoints"),
            database="t_events_replay",
        ),
        ingest=dataclasses.replace(base_config.ingest, trigger="available-now"),
    )
    lake = Warehouse.of(config, spark)
    lake.ensure(*streams.INGEST_TABLES)
    _append(spark, lake, 0, ["k1", "k2", "k3"])  # in batch 0 of the first run

    # First run: batch 0 merges into events, then dies before the entity_state MERGE.
    def events_then_killed(batch_df: DataFrame, batch_id: int) -> None:
        events_df = eventlog.to_events(batch_df, domain.MERGED_BY_STREAM).localCheckpoint()
        dates = sorted({row.event_date for row in events_df.select("event_date").collect()})
        eventlog.merge_events(lake.table(tables.EVENTS), events_df, dates)
        raise KilledError("between the events commit and the entity_state commit")

    resume = _resume(lake, config)
    assert resume.events_starting_version is None  # events empty: from the start
    source_df = spark.readStream.format("delta").load(lake.location(tables.DELIVERIES))
    query = (
        source_df.transform(streams.dedup_stream, watermark=config.ingest.watermark)
        .writeStream.option("checkpointLocation", streams.checkpoint(config, streams.EVENTS_QUERY))
        .foreachBatch(events_then_killed)
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(StreamingQueryException):
        query.awaitTermination(300)
    assert sorted(r.key for r in lake.read(tables.EVENTS).collect()) == ["k1", "k2", "k3"]
    assert lake.read(tables.ENTITY_STATE).count() == 0

    # More deliveries arrive; the next run resumes the same checkpoint with the real batch.
    _append(spark, lake, 3, ["k4"])
    query = streams.start_events_query(lake, config, BatchLedger(), _resume(lake, config))
    query.awaitTermination(300)
    assert query.exception() is None

    assert sorted(r.key for r in lake.read(tables.EVENTS).collect()) == ["k1", "k2", "k3", "k4"]
    assert sorted(r.key for r in lake.read(tables.ENTITY_STATE).collect()) == [
        "k1",
        "k2",
        "k3",
        "k4",
    ]
