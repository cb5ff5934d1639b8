"""The page a person reads: verdict, counts by class and source, a chart by hour, top rows."""

from __future__ import annotations

import html
from typing import Any

from kafka_dedup.domain import (
    DUPLICATE,
    FINDING_TYPES,
    LATE_EFFECT,
    MALFORMED,
    MISMATCH,
    MISSING,
    ORPHAN,
    PENDING,
    UNMERGEABLE,
    UNMERGED,
)
from kafka_dedup.reconcile.report import columns, count_rows, status_line

COLORS = {
    MISSING: "#d62728",
    DUPLICATE: "#ff7f0e",
    ORPHAN: "#9467bd",
    MISMATCH: "#1f77b4",
    UNMERGED: "#2ca02c",
    LATE_EFFECT: "#8c564b",
    UNMERGEABLE: "#e377c2",
    PENDING: "#7f7f7f",
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


def page(summary: dict[str, Any]) -> str:
    """The page a person reads: verdict, counts by class and source, chart, top rows."""
    status_class = "clean" if summary["status"] == "clean" else "alert"
    window = summary["window"]
    header = ["source", *columns()]
    table_rows = [
        [name, *[int(c) if c.isdigit() else c for c in cells]]
        for name, cells in count_rows(summary)
    ]
    body = [
        f"<h1>Reconciliation {html.escape(summary['run_date'])}</h1>",
        f"<p class={status_class}><b>{html.escape(status_line(summary))}</b> "
        f"(exit code {summary['exit_code']})</p>",
        f"<p class=muted>events {window['day_start']} to {window['day_end']}, as of "
        f"{summary['as_of']}; lookback {window['lookback']}, grace {window['grace']}; "
        f"{summary['events_in_day']} events in the day; {summary['unmerged_inserted']} late "
        f"events merged; run {summary['run_id']} took {summary['duration_s']:.1f} s</p>",
        "<h2>Findings by class and source</h2>",
        _table(header, table_rows),
        "<h2>Findings over the day (UTC hour of the effect; of the event for MISSING and "
        "PENDING)</h2>",
        _chart(summary["hourly"]),
        *_top_sections(summary),
        *_malformed_section(summary),
    ]
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>Reconciliation {html.escape(summary['run_date'])}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
