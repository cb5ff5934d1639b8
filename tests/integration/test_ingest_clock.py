"""A producer clock in 2099: its record is quarantined and never moves the watermark, so the
records that follow it are merged by the stream, not left for the nightly run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup import domain, tables
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish
from tests.integration.ingest_helpers import (
    envelope,
    identities,
    ingest_config,
    read,
    send,
)

FROM_2099 = "2099-01-01T00:00:00Z"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_record_from_2099_is_quarantined_and_holds_nothing_back(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    topic = "orders-clock"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    now = datetime.now(timezone.utc)
    sent = send(
        kafka_bootstrap,
        topic,
        [
            (b"k1", envelope("on-time-1", _iso(now - timedelta(minutes=2)))),
            (b"k2", envelope("from-2099", FROM_2099)),
            # ahead, but within ingest.max_future_skew (15 minutes): a valid event
            (b"k4", envelope("slightly-ahead", _iso(now + timedelta(minutes=5)))),
        ],
    )
    run_ingest(spark, config)
    # produced after the 2099 record was ingested: on time, unless the watermark moved
    send(kafka_bootstrap, topic, [(b"k3", envelope("on-time-2", _iso(now - timedelta(minutes=1))))])
    second = run_ingest(spark, config)

    quarantined = [(r.offset, r.reason, r.detail) for r in read(spark, config, tables.QUARANTINE)]
    assert quarantined == [
        (
            sent[1][2],
            domain.FUTURE_EVENT_TIME,
            f"event_time is more than 15 minutes ahead of the ingest clock: {FROM_2099}",
        )
    ]
    assert identities(spark, config) == {
        ("k1", "on-time-1"): 1,
        ("k4", "slightly-ahead"): 1,
        ("k3", "on-time-2"): 1,
    }
    assert (second.totals.late_rows, second.totals.rows_inserted) == (0, 1)
    watermarks = [r.watermark for r in read(spark, config, tables.INGEST_BATCHES) if r.watermark]
    assert max(watermarks) < now.replace(tzinfo=None) + timedelta(hours=1)
