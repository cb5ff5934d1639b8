"""What maintenance may rewrite while an ingest runs, and the retention it must keep (pure).

Delta's OPTIMIZE commits its rewrite with dataChange=false, at snapshot isolation: appends never
conflict with it. A MERGE, though, fails (ConcurrentDeleteReadException) when a compaction
removes a file the MERGE read before it commits, and the ingest does not retry its batches. So
beside a live ingest a compaction rewrites only files no batch of it will read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from kafka_dedup import tables

# the live ingest only appends to these: compacting them never fails one of its commits
APPEND_ONLY = (tables.DELIVERIES, tables.QUARANTINE, tables.INGEST_BATCHES)
# written by reconcile's MERGEs only: a conflict with a running reconcile is retried
RECONCILE_ONLY = (tables.RECONCILIATION_FINDINGS, tables.RECONCILIATION_RUNS)
MERGED_EVERY_BATCH = "every batch of the live ingest MERGEs into it; compacted when no ingest runs"
LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
# Delta's defaults when a table does not set them
DEFAULT_RETENTION_S = {LOG_RETENTION: 30 * 86400, DELETED_FILE_RETENTION: 7 * 86400}
INTERVAL_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
INTERVAL_RE = re.compile(r"^\s*(?:interval\s+)?(\d+)\s+(" + "|".join(INTERVAL_UNITS) + r")s?\s*$")


@dataclass(frozen=True)
class Scope:
    """What a compaction of one table rewrites: all, the partitions `where` selects, or nothing."""

    where: str | None = None
    skip: str = ""

    def describe(self) -> str:
        if self.skip:
            return f"skipped: {self.skip}"
        return f"where {self.where}" if self.where else "whole table"


def compaction_scope(name: str, ingest_live: bool, watermark_ms: int | None) -> Scope:
    """The files of `name` a compaction may rewrite without failing a live ingest's MERGE.

    events: the insert-only MERGE's ON clause names the batch's event dates, so it reads only
    those partitions, and the stream drops rows older than its watermark before the MERGE:
    partitions before the watermark's day are never read by a batch of this run.
    entity_state: every batch's MERGE reads the whole table, so it waits for no ingest."""
    if not ingest_live or name in APPEND_ONLY or name in RECONCILE_ONLY:
        return Scope()
    if name == tables.EVENTS:
        if not watermark_ms or watermark_ms <= 0:
            return Scope(skip="the live ingest has no watermark yet (no batch planned)")
        day = datetime.fromtimestamp(watermark_ms / 1000, tz=timezone.utc).date()
        return Scope(where=f"event_date < DATE'{day.isoformat()}'")
    return Scope(
        skip="every batch of the live ingest MERGEs into it; compacted when no ingest runs"
    )


def interval_seconds(text: str | None, default_s: float) -> float:
    """A Delta retention property ('interval 7 days', '30 days') in seconds; default if unset."""
    if not text:
        return default_s
    match = INTERVAL_RE.match(text.lower())
    if match is None:
        raise ValueError(f"unreadable Delta interval {text!r}")
    return int(match.group(1)) * INTERVAL_UNITS[match.group(2)]


def properties_to_raise(properties: dict[str, str], retention_s: float) -> dict[str, str]:
    """The retention properties shorter than the window, set to it; longer ones stay as they are."""
    raised = {}
    for key, default_s in DEFAULT_RETENTION_S.items():
        if interval_seconds(properties.get(key), default_s) < retention_s:
            raised[key] = f"interval {int(retention_s)} seconds"
    return raised


def vacuum_hours(properties: dict[str, str], retention_s: float) -> float:
    """VACUUM's retention: the window, or the table's own longer deleted-file retention (Delta
    refuses a shorter one, and a longer one was set by someone who wanted it)."""
    own = interval_seconds(properties.get(DELETED_FILE_RETENTION), 7 * 86400)
    return max(retention_s, own) / 3600
