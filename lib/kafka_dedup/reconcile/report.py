"""The run's summary as text: JSON for machines, a table for the terminal (no I/O here)."""

from __future__ import annotations

import json
from typing import Any

from kafka_dedup.domain import FINDING_TYPES, MALFORMED


def json_text(summary: dict[str, Any]) -> str:
    """The machine-readable summary as written to summary.json."""
    return json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"


def status_line(summary: dict[str, Any]) -> str:
    """The verdict: clean, partial, or which classes are over their thresholds."""
    exceeded = summary["thresholds_exceeded"]
    partial = ""
    if summary.get("partial"):
        partial = (
            f"partial: as of {summary['as_of']} the day or its grace period is not over "
            f"(complete at {summary['complete_at']}); "
        )
    if not exceeded:
        return (
            f"{partial}no finding over its threshold"
            if partial
            else "clean: no finding over its threshold"
        )
    limits = ", ".join(
        f"{kind} {summary['totals'][kind]} > {summary['thresholds'][kind]}" for kind in exceeded
    )
    return f"{partial}findings over thresholds: {limits}"


def columns() -> tuple[str, ...]:
    """The count columns: every finding class, then the malformed effect rows."""
    return (*FINDING_TYPES, "malformed")


def count_rows(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(source, counts as text; '-' where a class does not apply), then the totals."""
    rows = []
    for source, counts in summary["by_source"].items():
        rows.append((source, [str(counts.get(c, "-")) for c in columns()]))
    totals = summary["totals"]
    total_row = [str(totals.get(c, 0)) for c in FINDING_TYPES]  # .get: older summaries
    total_row.append(str(totals[MALFORMED]))
    rows.append(("total", total_row))
    return rows


def terminal_table(summary: dict[str, Any]) -> str:
    """A short table of counts by source and class, the verdict and where the report is."""
    header = ("source", *columns())
    rows = count_rows(summary)
    widths = [max(len(header[0]), *(len(r[0]) for r in rows))]
    widths += [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(header[1:])]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [
        f"reconciliation {summary['run_date']}: {status_line(summary)} "
        f"(exit {summary['exit_code']})",
        line(list(header)),
        *(line([name, *cells]) for name, cells in rows),
    ]
    if summary.get("remediation", {}).get("topic"):
        rem = summary["remediation"]
        out.append(f"remediation: {rem['published']} messages to topic {rem['topic']}")
    out.append(f"report: {summary['report']['html']}")
    out.append(f"summary: {summary['report']['json']}")
    return "\n".join(out)
