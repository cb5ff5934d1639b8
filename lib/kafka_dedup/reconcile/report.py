"""The run's summary for machines (JSON), people (an HTML page) and the terminal (a table)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup.reconcile.settings import FINDING_TYPES, MALFORMED
from kafka_dedup.session import is_remote

COLORS = {
    "MISSING": "#d62728",
    "DUPLICATE": "#ff7f0e",
    "ORPHAN": "#9467bd",
    "MISMATCH": "#1f77b4",
    "UNMERGED": "#2ca02c",
    "LATE_EFFECT": "#8c564b",
    "UNMERGEABLE": "#e377c2",
    "PENDING": "#7f7f7f",
}
TOP_COLUMNS = ("event_id", "key", "event_type", "event_time", "effect_ids", "detail")
CHART_W, CHART_H, CHART_PAD, LEGEND_W = 900, 220, 36, 86
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td { max-width: 30em; overflow-wrap: anywhere; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.clean { color: #2ca02c; } .alert { color: #d62728; } .muted { color: #777; }
"""


def json_text(summary: dict[str, Any]) -> str:
    """The machine-readable summary as written to summary.json."""
    return json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"


def write_text(spark: SparkSession | None, path: str, text: str) -> str:
    """A local file, or any URI Hadoop can write (s3a://, s3:// on EMR) through Spark's FS."""
    if not is_remote(path) or spark is None:
        local = Path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        return path
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    target = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    stream = target.getFileSystem(hadoop_conf).create(target, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return path


def write_json(spark: SparkSession | None, summary: dict[str, Any], path: str) -> str:
    """The machine-readable summary."""
    return write_text(spark, path, json_text(summary))


def _status_line(summary: dict[str, Any]) -> str:
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


def _columns() -> tuple[str, ...]:
    return (*FINDING_TYPES, "malformed")


def _count_rows(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    rows = []
    for source, counts in summary["by_source"].items():
        rows.append((source, [str(counts.get(c, "-")) for c in _columns()]))
    totals = summary["totals"]
    total_row = [str(totals.get(c, 0)) for c in FINDING_TYPES]  # .get: older summaries
    total_row.append(str(totals[MALFORMED]))
    rows.append(("total", total_row))
    return rows


def terminal_table(summary: dict[str, Any]) -> str:
    """A short table of counts by source and class, the verdict and where the report is."""
    header = ("source", *_columns())
    rows = _count_rows(summary)
    widths = [max(len(header[0]), *(len(r[0]) for r in rows))]
    widths += [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(header[1:])]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [
        f"reconciliation {summary['run_date']}: {_status_line(summary)} "
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


def _chart(hourly: dict[str, list[int]]) -> str:
    """An inline SVG stacked bar chart of findings per hour of the day."""
    totals = [sum(hourly.get(k, [0] * 24)[h] for k in FINDING_TYPES) for h in range(24)]
    peak = max(totals) or 1
    bar_w = (CHART_W - 2 * CHART_PAD) / 24
    plot_h = CHART_H - 2 * CHART_PAD
    parts = [f'<svg width="{CHART_W}" height="{CHART_H}" role="img" aria-label="findings by hour">']
    for hour in range(24):
        y = float(CHART_H - CHART_PAD)
        for kind in FINDING_TYPES:
            count = hourly.get(kind, [0] * 24)[hour]
            if not count:
                continue
            height = count / peak * plot_h
            y -= height
            x = CHART_PAD + hour * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{height:.1f}" '
                f'fill="{COLORS[kind]}"><title>{hour:02d}:00 {kind}: {count}</title></rect>'
            )
        if hour % 3 == 0:
            x = CHART_PAD + hour * bar_w
            parts.append(f'<text x="{x:.1f}" y="{CHART_H - 14}" font-size="11">{hour:02d}h</text>')
    parts.append(f'<text x="4" y="{CHART_PAD - 8}" font-size="11">max {peak}/hour</text>')
    x = CHART_W - CHART_PAD - len(FINDING_TYPES) * LEGEND_W
    for i, kind in enumerate(FINDING_TYPES):
        parts.append(
            f'<rect x="{x + i * LEGEND_W}" y="6" width="10" height="10" fill="{COLORS[kind]}"/>'
            f'<text x="{x + i * LEGEND_W + 14}" y="15" font-size="9">{kind}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int)
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            cells.append(f"<td{' class=n' if numeric else ''}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _top_sections(summary: dict[str, Any]) -> list[str]:
    parts = []
    for kind in FINDING_TYPES:
        rows = summary["top"].get(kind, [])
        total = summary["totals"].get(kind, 0)
        parts.append(f"<h2>{kind} <span class=muted>({total})</span></h2>")
        if not rows:
            parts.append("<p class=muted>none</p>")
            continue
        if total > len(rows):
            parts.append(f"<p class=muted>first {len(rows)} of {total}</p>")
        header = ["source", *TOP_COLUMNS, "action"]
        parts.append(_table(header, [[r.get(c) for c in header] for r in rows]))
    return parts


def _malformed_section(summary: dict[str, Any]) -> list[str]:
    """The unclassifiable side-effect rows of the day, each with its reason."""
    parts = [f"<h2>Malformed side-effect rows <span class=muted>({summary['totals'][MALFORMED]})"]
    parts[0] += "</span></h2>"
    samples = [[s, r["reason"], r["row"]] for s, rs in summary["malformed"].items() for r in rs]
    if not samples:
        return [*parts, "<p class=muted>none</p>"]
    return [*parts, _table(["source", "reason", "row"], samples)]


def write_html(spark: SparkSession | None, summary: dict[str, Any], path: str) -> str:
    """The page a person reads: verdict, counts by class and source, chart, top rows."""
    status_class = "clean" if summary["status"] == "clean" else "alert"
    window = summary["window"]
    header = ["source", *_columns()]
    count_rows = [
        [name, *[int(c) if c.isdigit() else c for c in cells]]
        for name, cells in _count_rows(summary)
    ]
    body = [
        f"<h1>Reconciliation {html.escape(summary['run_date'])}</h1>",
        f"<p class={status_class}><b>{html.escape(_status_line(summary))}</b> "
        f"(exit code {summary['exit_code']})</p>",
        f"<p class=muted>events {window['day_start']} to {window['day_end']}, as of "
        f"{summary['as_of']}; lookback {window['lookback']}, grace {window['grace']}; "
        f"{summary['events_in_day']} events in the day; {summary['unmerged_inserted']} late "
        f"events merged; run {summary['run_id']} took {summary['duration_s']:.1f} s</p>",
        "<h2>Findings by class and source</h2>",
        _table(header, count_rows),
        "<h2>Findings over the day (UTC hour of the effect; of the event for MISSING and "
        "PENDING)</h2>",
        _chart(summary["hourly"]),
        *_top_sections(summary),
        *_malformed_section(summary),
    ]
    page = (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>Reconciliation {html.escape(summary['run_date'])}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
    return write_text(spark, path, page)
