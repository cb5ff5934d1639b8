"""ingest_batches rows from Spark's progress events: one row per batch that ran, exact figures."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from kafka_dedup.ingest import progress as progress_mod
from kafka_dedup.ingest.batches import DELIVERIES_QUERY, BatchFigures, BatchLedger
from kafka_dedup.ingest.progress import ProgressReporter


def progress(batch_id: int, rows: int, ran: bool = True) -> SimpleNamespace:
    """A StreamingQueryProgress as pyspark exposes it (the fields the reporter reads); the
    phases are those Spark 4.0 reports for a batch that ran and for an idle event."""
    phases = ["addBatch", "latestOffset", "triggerExecution"] if ran else ["latestOffset"]
    return SimpleNamespace(
        batchId=batch_id,
        numInputRows=rows,
        stateOperators=[],
        durationMs=dict.fromkeys(phases + ["triggerExecution"], 1000),
        eventTime={},
        timestamp="2026-12-01T10:00:00.000Z",
    )


def recorded(reporter: ProgressReporter) -> list[tuple[Any, ...]]:
    """(batch id, records read, malformed) of each row the reporter would append."""
    return [(row[2], row[5], row[6]) for row in reporter.rows]


def test_an_idle_event_under_the_next_batch_id_does_not_hide_that_batch() -> None:
    # Spark 4.0 files "no data" progress events under the id of the batch to come, with 0
    # rows; the batch that then runs with data carries the same id.
    ledger = BatchLedger()
    reporter = ProgressReporter("run", ledger)
    query = SimpleNamespace(recentProgress=[progress(0, 20)])
    ledger.put(DELIVERIES_QUERY, 0, BatchFigures(malformed=2))
    reporter.poll(DELIVERIES_QUERY, query)
    idle = [progress(1, 0, ran=False), progress(1, 0, ran=False)]  # nothing new in Kafka
    query.recentProgress += idle
    reporter.poll(DELIVERIES_QUERY, query)
    ledger.put(DELIVERIES_QUERY, 1, BatchFigures(malformed=1))  # data: batch 1 ran
    reporter.poll(DELIVERIES_QUERY, query)  # ... but its progress event is not out yet
    query.recentProgress.append(progress(1, 7))
    reporter.poll(DELIVERIES_QUERY, query)
    assert recorded(reporter) == [(0, 20, 2), (1, 7, 1)]
    assert reporter.totals.records_read == 27


def test_a_batch_that_ran_without_data_is_recorded() -> None:
    # the events query runs no-data batches to move the watermark and evict state
    ledger = BatchLedger()
    reporter = ProgressReporter("run", ledger)
    ledger.put(DELIVERIES_QUERY, 3, BatchFigures())
    reporter.poll(DELIVERIES_QUERY, SimpleNamespace(recentProgress=[progress(3, 0)]))
    assert recorded(reporter) == [(3, 0, 0)]


def test_a_batch_is_recorded_once_its_figures_arrive_and_never_twice() -> None:
    ledger = BatchLedger()
    reporter = ProgressReporter("run", ledger)
    query = SimpleNamespace(recentProgress=[progress(0, 5)])
    reporter.poll(DELIVERIES_QUERY, query)
    assert recorded(reporter) == []  # foreachBatch has not put its figures yet
    ledger.put(DELIVERIES_QUERY, 0, BatchFigures(malformed=0))
    reporter.poll(DELIVERIES_QUERY, query)
    reporter.poll(DELIVERIES_QUERY, query)
    assert recorded(reporter) == [(0, 5, 0)]


class Collect(logging.Handler):
    """Keeps the records it sees (the project logger may not propagate to pytest's)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_each_recorded_batch_logs_one_progress_line() -> None:
    # through the module's logger at INFO, so --quiet hides it and --log-json makes it a
    # JSON line; nothing is printed on stdout
    ledger = BatchLedger()
    reporter = ProgressReporter("run", ledger)
    ledger.put(DELIVERIES_QUERY, 0, BatchFigures(malformed=2))
    logger, collect = progress_mod.logger, Collect()
    logger.addHandler(collect)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        reporter.poll(DELIVERIES_QUERY, SimpleNamespace(recentProgress=[progress(0, 20)]))
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    assert [(r.name, r.levelno, r.getMessage()) for r in collect.records] == [
        ("kafka_dedup.ingest.progress", logging.INFO,
         "[deliveries] batch 0: read 20, malformed 2, 1.0 s"),
    ]  # fmt: skip
