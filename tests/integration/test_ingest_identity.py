"""One event, one row, whatever its copies say: copies of one (key, event_id) whose
event_time differs across midnight leave exactly one `events` row, in the stream and after
repeated nightly runs for either date. Two timelines: both copies in one batch, and the
re-stamped copy arriving after the watermark has passed it."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish
from kafka_dedup.reconcile.job import run_reconcile
from tests.integration.ingest_helpers import envelope, identities, ingest_config, read, send

BEFORE_MIDNIGHT = "2026-11-29T23:59:50Z"
AFTER_MIDNIGHT = "2026-11-30T00:00:10Z"
FILLER_TIME = "2026-11-30T06:00:00Z"  # moves the watermark (1 hour) to 05:00
DAYS = (date(2026, 11, 29), date(2026, 11, 30))
AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_copies_with_different_event_times_leave_one_row(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    topic = "orders-restamped"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=2)
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    config = dataclasses.replace(config, reconcile={"report_dir": str(tmp_path / "reports")})
    send(
        kafka_bootstrap,
        topic,
        [
            (b"k1", envelope("same-batch", BEFORE_MIDNIGHT)),  # timeline 1: one batch
            (b"k1", envelope("same-batch", AFTER_MIDNIGHT)),
            (b"k2", envelope("late-copy", BEFORE_MIDNIGHT)),  # timeline 2, first copy
            (b"k3", envelope("filler", FILLER_TIME)),
        ],
    )
    run_ingest(spark, config)
    # re-stamped after midnight, and behind the watermark (05:00) by now
    send(kafka_bootstrap, topic, [(b"k2", envelope("late-copy", AFTER_MIDNIGHT))])
    late = run_ingest(spark, config)

    expected = {("k1", "same-batch"): 1, ("k2", "late-copy"): 1, ("k3", "filler"): 1}
    assert late.totals.late_rows == 1
    assert identities(spark, config) == expected
    inserted = []
    for day in (*DAYS, *DAYS):  # each date twice
        result = run_reconcile(spark, config, day, AS_OF)
        inserted.append(result.summary["unmerged_inserted"])
        assert identities(spark, config) == expected
    assert inserted == [0] * 4
    rows = {(r.key, r.event_id): str(r.event_date) for r in read(spark, config, tables.EVENTS)}
    assert rows[("k2", "late-copy")] == "2026-11-29"  # the first-seen copy's date
