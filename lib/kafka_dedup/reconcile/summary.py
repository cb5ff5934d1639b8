"""The end of a run: counts, thresholds and exit code, report files, remediation, run row."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.reconcile import remediation, report, store
from kafka_dedup.reconcile.context import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_PARTIAL,
    Run,
    RunResult,
    read_events,
)
from kafka_dedup.reconcile.settings import (
    FINDING_TYPES,
    MALFORMED,
    PENDING,
    UNMERGEABLE,
    UNMERGED,
    describe,
    report_folder,
)
from kafka_dedup.reconcile.unmerged import IDENTITY

SOURCE_COUNTERS = ("effects_read", "malformed")
LOG_CLASSES = (UNMERGED, UNMERGEABLE)  # found in the event log itself, not in a source


def _counts(findings_df: DataFrame, run: Run) -> list[Row]:
    """Findings per (source, class, hour of the day; -1 outside the day): one small job."""
    time = F.col("finding_time")
    in_day = (time >= F.lit(run.day_start)) & (time < F.lit(run.day_end))
    hour = F.when(in_day, F.hour(time)).otherwise(F.lit(-1))
    return findings_df.groupBy("source", "finding_type", hour.alias("hour")).count().collect()


def _hourly(counts: list[Row]) -> dict[str, list[int]]:
    hourly = {kind: [0] * 24 for kind in FINDING_TYPES}
    for row in counts:
        if row.hour >= 0:
            hourly[row.finding_type][row.hour] += row["count"]
    return hourly


def _top(findings_df: DataFrame, run: Run) -> dict[str, list[dict[str, Any]]]:
    order = Window.partitionBy("finding_type").orderBy("source", "finding_time", "event_id")
    rows = (
        findings_df.withColumn("_n", F.row_number().over(order))
        .where(F.col("_n") <= run.settings.top_rows)
        .drop("_n")
        .orderBy("finding_type", "source", "finding_time", "event_id")
        .collect()
    )
    top: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FINDING_TYPES}
    for row in rows:
        top[row.finding_type].append({k: remediation.plain(v) for k, v in row.asDict().items()})
    return top


def _by_source(counts: list[Row], stats: dict[str, dict]) -> dict[str, dict[str, Any]]:
    by_source: dict[str, dict[str, Any]] = {}
    for name, source_stats in stats.items():
        zeros: dict[str, Any] = {k: 0 for k in FINDING_TYPES if k not in LOG_CLASSES}
        by_source[name] = {**zeros, **{c: source_stats[c] for c in SOURCE_COUNTERS}}
    by_source[store.LOG_SOURCE] = {k: 0 for k in LOG_CLASSES}
    for row in counts:
        per_source = by_source.setdefault(row.source, {})
        per_source[row.finding_type] = per_source.get(row.finding_type, 0) + row["count"]
    return by_source


def _exceeded(totals: dict[str, int], thresholds: dict[str, int | None]) -> list[str]:
    return [k for k, limit in thresholds.items() if limit is not None and totals[k] > limit]


def build(
    run: Run,
    findings_df: DataFrame,
    stats: dict[str, dict],
    unmerged_found: int,
    inserted: int,
) -> dict[str, Any]:
    """The run's summary, from the findings table as written."""
    counts = _counts(findings_df, run)
    by_source = _by_source(counts, stats)
    totals = {k: sum(c.get(k, 0) for c in by_source.values()) for k in FINDING_TYPES}
    totals[MALFORMED] = sum(s["malformed"] for s in stats.values())
    exceeded = _exceeded(totals, run.settings.thresholds)
    status, exit_code = ("partial", EXIT_PARTIAL) if run.partial else ("clean", EXIT_CLEAN)
    summary = {
        "run_date": run.run_date.isoformat(),
        "run_id": run.run_id,
        "status": "findings" if exceeded else status,
        "exit_code": EXIT_FINDINGS if exceeded else exit_code,
        "partial": run.partial,
        "complete_at": run.complete_at.isoformat(),
        "started_at": run.started_at.isoformat(),
        "as_of": run.as_of.isoformat(),
        "window": {
            "day_start": run.day_start.isoformat(),
            "day_end": run.day_end.isoformat(),
            "lookback": describe(run.settings.lookback),
            "grace": describe(run.settings.grace),
            "late_lookback": describe(run.settings.late_lookback),
        },
        "sources": [s.name for s in run.settings.sources],
        "events_in_day": read_events(run, run.day_start, run.day_end).count(),
        "unmerged_found": unmerged_found,
        "unmerged_inserted": inserted,
        "pending": totals[PENDING],
        "unmergeable": totals[UNMERGEABLE],
        "totals": totals,
        "by_source": by_source,
        "thresholds": run.settings.thresholds,
        "thresholds_exceeded": exceeded,
        "hourly": _hourly(counts),
        "top": _top(findings_df, run),
        "malformed": {name: s["malformed_rows"] for name, s in stats.items()},
        "remediation": {"topic": run.settings.remediation_topic, "published": 0},
    }
    return summary


def with_events(findings_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """Findings in publishing order; replay ones with the payload of their event."""
    replay_df = findings_df.where(F.col("action") == remediation.REPLAY).select(*IDENTITY)
    payloads_df = events_df.join(F.broadcast(replay_df), IDENTITY, "left_semi").select(
        *IDENTITY, F.col("payload").alias(remediation.EVENT_PAYLOAD)
    )
    return findings_df.join(payloads_df, IDENTITY, "left").orderBy(
        "finding_type", "source", "event_id", "field"
    )


def _publish(run: Run, findings_df: DataFrame, summary: dict[str, Any]) -> None:
    topic = run.settings.remediation_topic
    if not topic:
        return
    run.progress.step(f"publishing remediation messages to {topic}")
    rows = with_events(
        findings_df.where(F.col("finding_type") != PENDING),  # nothing to do yet
        run.spark.read.format("delta").load(run.path(tables.EVENTS)),
    ).toLocalIterator()
    published = remediation.publish(
        run.config.kafka.bootstrap_servers, topic, (row.asDict() for row in rows)
    )
    summary["remediation"]["published"] = published


def _run_row(run: Run, summary: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    finished = datetime.now(timezone.utc)
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


def finish(run: Run, stats: dict[str, dict], unmerged_found: int, inserted: int) -> RunResult:
    """Summarise, publish remediation, write the report files and the run row."""
    run.progress.step("summarising")
    findings_df = store.read_findings(run.spark, run.warehouse, run.run_date)
    assert findings_df is not None  # written by this run before
    summary = build(run, findings_df, stats, unmerged_found, inserted)
    _publish(run, findings_df, summary)
    folder = report_folder(run.settings.report_dir, run.warehouse, run.run_date.isoformat())
    summary["report"] = {"html": f"{folder}/report.html", "json": f"{folder}/summary.json"}
    finished = datetime.now(timezone.utc)
    summary["finished_at"] = finished.isoformat()
    summary["duration_s"] = round((finished - run.started_at).total_seconds(), 1)
    report.write_json(run.spark, summary, summary["report"]["json"])
    report.write_html(run.spark, summary, summary["report"]["html"])
    row = _run_row(run, summary, None)
    row["summary_json"] = report.json_text(summary)
    store.replace_run(run.spark, run.warehouse, row)
    run.progress.step(f"done: {summary['status']}")
    return RunResult(summary["exit_code"], summary)


def record_failure(run: Run, exc: BaseException) -> None:
    """Best effort: a failed run still leaves a row saying why."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
    try:
        store.replace_run(run.spark, run.warehouse, _run_row(run, None, first_line))
    except Exception as write_exc:  # noqa: BLE001 - the original error matters more
        print(f"could not record the failed run: {write_exc}", file=sys.stderr)
