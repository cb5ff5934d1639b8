"""Per-micro-batch figures: one progress line each, and rows for the `ingest_batches` table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pyspark.sql.streaming import StreamingQuery

from kafka_dedup import log, tables
from kafka_dedup.ingest.batches import DELIVERIES_QUERY, BatchFigures, BatchLedger, append
from kafka_dedup.warehouse import Warehouse

logger = log.get(__name__)

DROPPED_DUPLICATES_METRIC = "numDroppedDuplicateRows"
RAN_PHASE = "addBatch"  # in durationMs of every batch that ran, even one with no data


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _state_metrics(progress: Any) -> tuple[int, int]:
    """(duplicates removed by the dedup state, rows dropped for being behind the watermark)."""
    removed = late = 0
    for operator in progress.stateOperators or []:
        late += int(operator.numRowsDroppedByWatermark or 0)
        removed += int((operator.customMetrics or {}).get(DROPPED_DUPLICATES_METRIC, 0))
    return removed, late


def _ran(progress: Any) -> bool:
    """True for a batch that ran; False for an idle event, which Spark files under the id of
    the batch to come, with 0 rows and no addBatch time (taking it for that batch would drop
    the batch's own figures when it runs)."""
    return RAN_PHASE in (progress.durationMs or {})


@dataclass
class IngestTotals:
    """Figures summed over the run, for the final summary and the demo."""

    records_read: int = 0
    malformed: int = 0
    duplicates_removed_by_state: int = 0
    duplicates_caught_by_merge: int = 0
    late_rows: int = 0
    rows_inserted: int = 0
    state_updates: int = 0
    batches: dict[str, int] = field(default_factory=dict)


@dataclass
class ProgressReporter:
    """Turns new progress events of a query into progress lines and ingest_batches rows."""

    run_id: str
    ledger: BatchLedger
    totals: IngestTotals = field(default_factory=IngestTotals)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    seen: set[tuple[str, int]] = field(default_factory=set)

    def poll(self, name: str, query: StreamingQuery) -> None:
        for progress in query.recentProgress:
            key = (name, int(progress.batchId))
            if key in self.seen or not _ran(progress):
                continue
            figures = self.ledger.pop(*key)
            if figures is None:
                continue  # foreachBatch figures not recorded yet: pick it up next poll
            self.seen.add(key)
            self._record(name, progress, figures)

    def _record(self, name: str, progress: Any, figures: BatchFigures) -> None:
        removed, late = _state_metrics(progress)
        duration_ms = int((progress.durationMs or {}).get("triggerExecution", 0))
        watermark = _timestamp((progress.eventTime or {}).get("watermark"))
        read = int(progress.numInputRows)
        totals = self.totals
        totals.batches[name] = totals.batches.get(name, 0) + 1
        if name == DELIVERIES_QUERY:
            totals.records_read += read
            totals.malformed += figures.malformed
        totals.duplicates_removed_by_state += removed
        totals.duplicates_caught_by_merge += figures.duplicates_caught_by_merge
        totals.late_rows += late
        totals.rows_inserted += figures.rows_inserted
        totals.state_updates += figures.state_updates
        self.rows.append(
            (
                self.run_id,
                name,
                int(progress.batchId),
                _timestamp(progress.timestamp),
                duration_ms,
                read,
                figures.malformed,
                removed,
                figures.duplicates_caught_by_merge,
                late,
                figures.rows_inserted,
                figures.state_updates,
                watermark,
            )
        )
        logger.info(
            self._line(name, int(progress.batchId), read, figures, removed, late, duration_ms)
        )

    @staticmethod
    def _line(
        name: str, batch: int, read: int, fig: BatchFigures, removed: int, late: int, ms: int
    ) -> str:
        if name == DELIVERIES_QUERY:
            detail = f"read {read}, malformed {fig.malformed}"
        else:
            detail = (
                f"in {read}, dup removed by state {removed}, dup caught by merge "
                f"{fig.duplicates_caught_by_merge}, late {late}, inserted {fig.rows_inserted}, "
                f"state updates {fig.state_updates}"
            )
        return f"[{name:>10}] batch {batch}: {detail}, {ms / 1000:.1f} s"

    def flush(self, lake: Warehouse) -> None:
        """Append the collected rows to ingest_batches (created before the queries start)."""
        if not self.rows:
            return
        rows_df = lake.spark.createDataFrame(self.rows, tables.INGEST_BATCHES_SCHEMA)
        append(rows_df, lake, tables.INGEST_BATCHES)
        self.rows = []
