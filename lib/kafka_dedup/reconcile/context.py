"""The state of one reconcile run: its date and window, settings, progress and result."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import log, tables
from kafka_dedup.config import Config
from kafka_dedup.reconcile.settings import Settings
from kafka_dedup.warehouse import Warehouse

EXIT_CLEAN = 0
EXIT_FINDINGS = 3  # findings over thresholds: distinct from errors (1, and 2 for UserError)
EXIT_PARTIAL = 4  # no finding over its threshold, but the day (or its grace) is not over yet
DAY = timedelta(days=1)

logger = log.get(__name__)


class Progress:
    """One log line per step, with the time since the run started."""

    def __init__(self, run_date: date) -> None:
        self.prefix = f"reconcile {run_date.isoformat()}"
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        logger.info("[%s +%5.1fs] %s", self.prefix, elapsed, text)


@dataclass
class Run:
    """Everything one run needs to know, built once."""

    config: Config
    settings: Settings
    run_date: date
    as_of: datetime
    lake: Warehouse
    progress: Progress
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def spark(self) -> SparkSession:
        return self.lake.spark

    @property
    def day_start(self) -> datetime:
        day = self.run_date
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)

    @property
    def day_end(self) -> datetime:
        return self.day_start + DAY

    @property
    def complete_at(self) -> datetime:
        """When every event of the day is past its grace and every effect of it is in."""
        return self.day_end + self.settings.grace

    @property
    def partial(self) -> bool:
        """A run as of before complete_at can only give a partial account of its day."""
        return self.as_of < self.complete_at


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    summary: dict[str, Any]


def filter_events_window(events_df: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """Events with event_time in [start, end); the event_date filter prunes partitions."""
    first_day, last_day = start.date(), (end - timedelta(microseconds=1)).date()
    return events_df.where(
        F.col("event_date").between(F.lit(first_day), F.lit(last_day))
        & (F.col("event_time") >= F.lit(start))
        & (F.col("event_time") < F.lit(end))
    )


def read_events(run: Run, start: datetime, end: datetime) -> DataFrame:
    """The log's events with event_time in [start, end)."""
    return filter_events_window(run.lake.read(tables.EVENTS), start, end)
