"""A run stops the streaming queries it started, and no one else's on the same session."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish
from tests.integration.ingest_helpers import identities, ingest_config, send, valid_records

EVENT_TIME = "2026-11-25T10:00:00Z"


def test_a_run_leaves_a_query_it_did_not_start_running(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    topic = "orders-foreign-query"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    send(kafka_bootstrap, topic, valid_records("a", 6, EVENT_TIME))
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    # someone else's query on the same session (a notebook's, another job's)
    foreign = (
        spark.readStream.format("rate")
        .option("rowsPerSecond", 1)
        .load()
        .writeStream.format("noop")
        .queryName("someone-elses")
        .option("checkpointLocation", str(tmp_path / "foreign-checkpoint"))
        .start()
    )
    try:
        result = run_ingest(spark, config)

        assert result.totals.rows_inserted == 6
        assert len(identities(spark, config)) == 6
        assert foreign.isActive
        assert [query.id for query in spark.streams.active] == [foreign.id]
        assert foreign.exception() is None
    finally:
        foreign.stop()
