"""The maintenance run as text: a table per table for people, JSON for machines (no I/O here)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kafka_dedup.maintain.job import MaintainResult, TableReport

COLUMNS = (
    "table", "version", "files", "bytes", "compacted", "written", "vacuumed", "conflicts",
    "checkpoint", "window read",
)  # fmt: skip


def summary(result: MaintainResult) -> dict[str, Any]:
    """Everything the run did and checked, JSON-ready."""
    return {
        "ingest_live": result.ingest_live,
        "dry_run": result.dry_run,
        "retention": result.retention,
        "tables": [dataclasses.asdict(report) for report in result.tables],
    }


def json_text(result: MaintainResult) -> str:
    return json.dumps(summary(result), indent=2, sort_keys=True) + "\n"


def _row(report: TableReport) -> list[str]:
    window = (
        "-"
        if report.window_version is None
        else f"v{report.window_version}: {report.window_rows} rows"
    )
    checkpoint = "-" if report.checkpoint_version is None else f"v{report.checkpoint_version} ok"
    return [
        report.table,
        f"{report.version_before} -> {report.version_after}",
        f"{report.files_before} -> {report.files_after}",
        f"{report.bytes_before} -> {report.bytes_after}",
        str(report.files_compacted),
        str(report.files_written),
        str(report.files_vacuumed),
        str(len(report.conflicts)),
        checkpoint,
        window,
    ]


def terminal_table(result: MaintainResult) -> str:
    """One row per table, then each table's compaction scope and notes."""
    rows = [list(COLUMNS), *(_row(report) for report in result.tables)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    head = "dry run: nothing changed; " if result.dry_run else ""
    live = "an ingest run is live" if result.ingest_live else "no ingest run"
    lines.insert(0, f"{head}retention {result.retention}, {live}")
    for report in result.tables:
        extra = [f"compaction {report.scope}", *report.notes]
        if report.conflicts:
            extra.append(f"retried after {', '.join(report.conflicts)}")
        if report.properties_raised:
            extra.append(f"raised {', '.join(report.properties_raised)}")
        lines.append(f"{report.table}: " + "; ".join(extra))
    return "\n".join(lines)
