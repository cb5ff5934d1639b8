"""The run's summary and its `reconciliation_runs` row, from figures already collected.

Plain Python: the Spark jobs that collect the figures run at the edge (`writer`), so the
summary of any set of findings can be built, and checked, from a few rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from kafka_dedup.domain import FINDING_TYPES, LOG_SOURCE, MALFORMED, PENDING, UNMERGEABLE, UNMERGED
from kafka_dedup.reconcile.context import EXIT_CLEAN, EXIT_FINDINGS, EXIT_PARTIAL, Run
from kafka_dedup.reconcile.remediation import plain
from kafka_dedup.reconcile.settings import describe

SOURCE_COUNTERS = ("effects_read", "malformed")
LOG_CLASSES = (UNMERGED, UNMERGEABLE)  # found in the event log itself, not in a source


class HourCount(NamedTuple):
    """Findings of one source and class in one hour of the day (-1: outside the day)."""

    source: str
    finding_type: str
    hour: int
    findings: int


@dataclass
class Figures:
    """What the run counted: findings by hour, the top rows, the day's events, per source."""

    counts: list[HourCount]
    top: list[dict[str, Any]]  # at most top_rows per finding type, in report order
    events_in_day: int
    stats: dict[str, dict[str, Any]]  # per source: effects_read, malformed, malformed_rows
    unmerged_found: int = 0
    unmerged_inserted: int = 0
    published: int = 0


def _hourly(counts: list[HourCount]) -> dict[str, list[int]]:
    hourly = {kind: [0] * 24 for kind in FINDING_TYPES}
    for row in counts:
        if row.hour >= 0:
            hourly[row.finding_type][row.hour] += row.findings
    return hourly


def _top(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    top: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FINDING_TYPES}
    for row in rows:
        top[row["finding_type"]].append({k: plain(v) for k, v in row.items()})
    return top


def _by_source(counts: list[HourCount], stats: dict[str, dict]) -> dict[str, dict[str, Any]]:
    by_source: dict[str, dict[str, Any]] = {}
    for name, source_stats in stats.items():
        zeros: dict[str, Any] = {k: 0 for k in FINDING_TYPES if k not in LOG_CLASSES}
        by_source[name] = {**zeros, **{c: source_stats[c] for c in SOURCE_COUNTERS}}
    by_source[LOG_SOURCE] = {k: 0 for k in LOG_CLASSES}
    for row in counts:
        per_source = by_source.setdefault(row.source, {})
        per_source[row.finding_type] = per_source.get(row.finding_type, 0) + row.findings
    return by_source


def _exceeded(totals: dict[str, int], thresholds: dict[str, int | None]) -> list[str]:
    return [k for k, limit in thresholds.items() if limit is not None and totals[k] > limit]


def _window(run: Run) -> dict[str, str]:
    return {
        "day_start": run.day_start.isoformat(),
        "day_end": run.day_end.isoformat(),
        "lookback": describe(run.settings.lookback),
        "grace": describe(run.settings.grace),
        "late_lookback": describe(run.settings.late_lookback),
    }


def build(run: Run, figures: Figures) -> dict[str, Any]:
    """The run's summary: totals, thresholds and exit code, counts by source and hour, top rows."""
    by_source = _by_source(figures.counts, figures.stats)
    totals = {k: sum(c.get(k, 0) for c in by_source.values()) for k in FINDING_TYPES}
    totals[MALFORMED] = sum(s["malformed"] for s in figures.stats.values())
    exceeded = _exceeded(totals, run.settings.thresholds)
    status, exit_code = ("partial", EXIT_PARTIAL) if run.partial else ("clean", EXIT_CLEAN)
    return {
        "run_date": run.run_date.isoformat(),
        "run_id": run.run_id,
        "status": "findings" if exceeded else status,
        "exit_code": EXIT_FINDINGS if exceeded else exit_code,
        "partial": run.partial,
        "complete_at": run.complete_at.isoformat(),
        "started_at": run.started_at.isoformat(),
        "as_of": run.as_of.isoformat(),
        "window": _window(run),
        "sources": [s.name for s in run.settings.sources],
        "events_in_day": figures.events_in_day,
        "unmerged_found": figures.unmerged_found,
        "unmerged_inserted": figures.unmerged_inserted,
        "pending": totals[PENDING],
        "unmergeable": totals[UNMERGEABLE],
        "totals": totals,
        "by_source": by_source,
        "thresholds": run.settings.thresholds,
        "thresholds_exceeded": exceeded,
        "hourly": _hourly(figures.counts),
        "top": _top(figures.top),
        "malformed": {name: s["malformed_rows"] for name, s in figures.stats.items()},
        "remediation": {"topic": run.settings.remediation_topic, "published": figures.published},
    }


def with_report(
    summary: dict[str, Any], run: Run, folder: str, finished: datetime
) -> dict[str, Any]:
    """The summary with where its report files go and when the run finished."""
    return {
        **summary,
        "report": {"html": f"{folder}/report.html", "json": f"{folder}/summary.json"},
        "finished_at": finished.isoformat(),
        "duration_s": round((finished - run.started_at).total_seconds(), 1),
    }


def run_row(
    run: Run, summary: dict[str, Any] | None, error: str | None, finished: datetime
) -> dict[str, Any]:
    """The run's `reconciliation_runs` row; without a summary, the row of a failed run."""
    row: dict[str, Any] = {
        "run_date": run.run_date,
        "run_id": run.run_id,
        "status": summary["status"] if summary and not error else "failed",
        "started_at": run.started_at,
        "finished_at": finished,
        "as_of": run.as_of,
        "sources": [s.name for s in run.settings.sources],
        "error": error,
    }
    if summary is None:
        return row
    totals = summary["totals"]
    return {
        **row,
        "exit_code": summary["exit_code"],
        "events_in_day": summary["events_in_day"],
        "effects_read": sum(s.get("effects_read", 0) for s in summary["by_source"].values()),
        "malformed_effects": totals[MALFORMED],
        **{kind.lower(): totals[kind] for kind in FINDING_TYPES},
        "unmerged_inserted": summary["unmerged_inserted"],
        "thresholds_exceeded": summary["thresholds_exceeded"],
        "report_path": summary["report"]["html"],
    }
