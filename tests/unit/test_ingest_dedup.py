"""The watermark dedup itself (streams.dedup_stream), fed batch by batch through a MemoryStream.

PySpark has no MemoryStream of its own; the JVM's (the one Spark's Scala tests use) is
reached through py4j with a string encoder and the session's SQLContext. Each addData then
processAllAvailable() is one micro-batch, so the watermark of every batch is known: it is
the highest event_time of the batches before it minus the delay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from kafka_dedup.ingest import streams

DELAY = "10 minutes"
ROW_SCHEMA = "key STRING, event_id STRING, event_time TIMESTAMP, parse_error STRING"
SINK = "dedup_within_watermark"


@dataclass
class Feed:
    """A JVM MemoryStream of JSON lines, and its query writing to a memory sink."""

    spark: SparkSession
    stream: Any
    query: StreamingQuery

    def batch(self, *rows: tuple[str, str, str] | tuple[str, str, str, str]) -> None:
        """One micro-batch of (key, event_id, 'HH:MM' on 2026-11-25[, parse_error]) rows."""
        lines = [
            json.dumps(
                {
                    "key": row[0],
                    "event_id": row[1],
                    "event_time": f"2026-11-25T{row[2]}:00Z",
                    "parse_error": row[3] if len(row) > 3 else None,
                }
            )
            for row in rows
        ]
        self.stream.addData(self.spark._jvm.PythonUtils.toSeq(lines))
        self.query.processAllAvailable()

    def emitted(self) -> list[tuple[str, str, str]]:
        """What the operator let through, in (key, event_id, 'HH:MM') form."""
        rows = self.spark.table(SINK).collect()
        return sorted((r.key, r.event_id, f"{r.event_time:%H:%M}") for r in rows)

    def state_metric(self, name: str) -> int:
        """A figure of the dedup operator summed over every batch that ran."""
        total = 0
        for progress in self.query.recentProgress:
            for operator in progress.stateOperators:
                value = getattr(operator, name, None)
                if value is None:
                    value = (operator.customMetrics or {}).get(name, 0)
                total += int(value)
        return total


@dataclass(frozen=True)
class Outcome:
    """What the dedup let through, its figures over every batch, and the last watermark."""

    emitted: list[tuple[str, str, str]]
    dropped_duplicates: int
    dropped_as_late: int
    watermark: str


def _start(spark: SparkSession, checkpoint: Path) -> Feed:
    jvm = spark._jvm
    assert jvm is not None
    stream = jvm.org.apache.spark.sql.execution.streaming.MemoryStream.apply(
        jvm.org.apache.spark.sql.Encoders.STRING(), spark._jsparkSession.sqlContext()
    )
    lines_df = DataFrame(stream.toDF(), spark)
    rows_df = lines_df.select(F.from_json("value", ROW_SCHEMA).alias("r")).select("r.*")
    query = (
        rows_df.transform(streams.dedup_stream, watermark=DELAY)
        .writeStream.format("memory")
        .queryName(SINK)
        .outputMode("append")
        .option("checkpointLocation", str(checkpoint))
        .start()
    )
    return Feed(spark, stream, query)


@pytest.fixture(scope="module")
def outcome(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """Four micro-batches through dedup_stream with a 10-minute delay (times on one day)."""
    feed = _start(spark, tmp_path_factory.mktemp("dedup") / "checkpoint")
    try:
        # batch 1, no watermark yet: two copies of e1 in one batch, and a malformed row
        feed.batch(("k1", "e1", "10:00"), ("k1", "e1", "10:00"), ("k2", "e2", "10:00"),
                   ("k9", "e9", "10:00", "invalid_json"))  # fmt: skip
        # batch 2, watermark 09:50: a copy of e1 within the delay (another event_time: the
        # identity is (key, event_id) alone), a new event, and a late unique one (09:40)
        feed.batch(("k1", "e1", "10:05"), ("k3", "e3", "10:30"), ("k4", "e4", "09:40"))
        # batch 3, watermark 10:20: past e1's and e2's first copy + delay (10:10), so the
        # state forgets them at the end of this batch at the latest; e5 is new
        feed.batch(("k5", "e5", "10:40"))
        # batch 4, watermark 10:30: e1 again, after the watermark passed 10:00 + delay;
        # e3 again, within its delay (10:30 + 10 minutes = 10:40 > 10:30)
        feed.batch(("k1", "e1", "10:35"), ("k3", "e3", "10:35"))
        return Outcome(
            feed.emitted(),
            feed.state_metric("numDroppedDuplicateRows"),
            feed.state_metric("numRowsDroppedByWatermark"),
            feed.query.recentProgress[-1].eventTime.get("watermark", ""),
        )
    finally:
        feed.query.stop()


def test_copies_within_the_watermark_are_dropped(outcome: Outcome) -> None:
    # e1's second copy in batch 1 and its copy in batch 2 (10:05), e3's copy in batch 4
    assert [row for row in outcome.emitted if row[1] in ("e1", "e3")] == [
        ("k1", "e1", "10:00"),
        ("k1", "e1", "10:35"),
        ("k3", "e3", "10:30"),
    ]
    assert outcome.dropped_duplicates == 3


def test_a_copy_after_the_watermark_passed_the_first_copy_plus_delay_is_let_through(
    outcome: Outcome,
) -> None:
    # the state forgot e1 once the watermark passed 10:00 + 10 minutes: the copy at 10:35 is
    # emitted again (events' insert-only MERGE is what keeps it out of the log)
    assert ("k1", "e1", "10:35") in outcome.emitted
    assert outcome.watermark == "2026-11-25T10:30:00.000Z"


def test_a_late_unique_row_is_dropped_by_the_operator_and_counted(outcome: Outcome) -> None:
    # e4 (09:40) arrived behind the watermark (09:50): the stateful operator drops it even
    # though it was never seen; the run counts it as late, and the nightly run merges it
    assert [row for row in outcome.emitted if row[1] == "e4"] == []
    assert outcome.dropped_as_late == 1


def test_exactly_these_rows_come_out(outcome: Outcome) -> None:
    # malformed rows (e9) never reach the dedup
    assert outcome.emitted == [
        ("k1", "e1", "10:00"),
        ("k1", "e1", "10:35"),
        ("k2", "e2", "10:00"),
        ("k3", "e3", "10:30"),
        ("k5", "e5", "10:40"),
    ]
