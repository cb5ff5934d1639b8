"""The events query's state store: its memory is bounded by configuration, and each batch's
memory and size on disk are logged (debug, with fields) for long-running jobs to watch."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import log
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish
from kafka_dedup.session import ROCKSDB_MAX_MEMORY_MB
from tests.integration.ingest_helpers import ingest_config, send, valid_records

EVENT_TIME = "2026-11-25T10:00:00Z"


def test_rocksdb_memory_is_bounded(spark: SparkSession) -> None:
    assert spark.conf.get("spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage") == "true"
    assert (
        spark.conf.get("spark.sql.streaming.stateStore.rocksdb.maxMemoryUsageMB")
        == ROCKSDB_MAX_MEMORY_MB
    )


def test_each_events_batch_logs_its_state_store(
    spark: SparkSession,
    kafka_bootstrap: str,
    base_config: Config,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = "orders-state-metrics"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    send(kafka_bootstrap, topic, valid_records("a", 5, EVENT_TIME))
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    logger = logging.getLogger(log.ROOT)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger=log.ROOT)
    try:
        result = run_ingest(spark, config)
    finally:
        logger.removeHandler(caplog.handler)

    assert result.totals.rows_inserted == 5
    lines = [r for r in caplog.records if hasattr(r, "state_memory_bytes")]
    assert {r.state_query for r in lines} == {"events"}  # type: ignore[attr-defined]
    first = min(lines, key=lambda r: r.state_batch)  # type: ignore[attr-defined]
    assert first.state_batch == 0  # type: ignore[attr-defined]
    assert first.state_operator == "dedupeWithinWatermark"  # type: ignore[attr-defined]
    metrics = first.state_metrics  # type: ignore[attr-defined]
    assert {"rocksdbSstFileSize", "rocksdbPinnedBlocksMemoryUsage"} <= set(metrics)
    assert isinstance(first.state_memory_bytes, int)  # type: ignore[attr-defined]
