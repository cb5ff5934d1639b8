"""The report for people and machines, from a run summary (no Spark needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kafka_dedup.reconcile import remediation, report

TYPES = (
    "MISSING", "DUPLICATE", "ORPHAN", "MISMATCH", "UNMERGED", "LATE_EFFECT", "UNMERGEABLE",
    "PENDING",
)  # fmt: skip


def a_summary(tmp_path: Path) -> dict[str, Any]:
    hourly = {kind: [0] * 24 for kind in TYPES}
    hourly["DUPLICATE"][11] = 2
    hourly["MISSING"][12] = 1
    duplicate = {
        "source": "payments",
        "event_id": "e2",
        "key": "k2",
        "event_type": "order.paid",
        "event_time": "2026-11-25T11:00:00",
        "effect_ids": ["c2", "c2b"],
        "detail": "2 effects in payments for one event (expected 1); extra: c2b",
        "action": "compensate",
    }
    return {
        "run_date": "2026-11-25",
        "run_id": "r1",
        "status": "findings",
        "exit_code": 3,
        "as_of": "2026-11-27T00:00:00+00:00",
        "duration_s": 12.3,
        "window": {
            "day_start": "2026-11-25T00:00:00+00:00",
            "day_end": "2026-11-26T00:00:00+00:00",
            "lookback": "1 day",
            "grace": "1 hour",
        },
        "events_in_day": 40,
        "unmerged_inserted": 1,
        "pending": 0,
        "totals": {
            "MISSING": 1,
            "DUPLICATE": 2,
            "ORPHAN": 0,
            "MISMATCH": 0,
            "UNMERGED": 1,
            "MALFORMED": 1,
        },
        "by_source": {
            "payments": {
                "MISSING": 1,
                "DUPLICATE": 2,
                "ORPHAN": 0,
                "MISMATCH": 0,
                "LATE_EFFECT": 0,
                "PENDING": 0,
                "effects_read": 41,
                "malformed": 1,
            },
            "log": {"UNMERGED": 1, "UNMERGEABLE": 0},
        },
        "thresholds": {
            "MISSING": 0,
            "DUPLICATE": 0,
            "ORPHAN": 0,
            "MISMATCH": 0,
            "UNMERGED": None,
            "MALFORMED": None,
        },
        "thresholds_exceeded": ["MISSING", "DUPLICATE"],
        "hourly": hourly,
        "top": {"DUPLICATE": [duplicate, {**duplicate, "event_id": "e3<script>"}]},
        "malformed": {"payments": [{"reason": "missing_event_id", "row": '{"charge_id":"c0"}'}]},
        "remediation": {"topic": "fixes", "published": 4},
        "report": {"html": str(tmp_path / "report.html"), "json": str(tmp_path / "summary.json")},
    }


def test_terminal_table_lists_counts_by_source_and_class(tmp_path: Path) -> None:
    lines = report.terminal_table(a_summary(tmp_path)).splitlines()
    assert lines[0] == (
        "reconciliation 2026-11-25: findings over thresholds: MISSING 1 > 0, DUPLICATE 2 > 0 "
        "(exit 3)"
    )
    assert lines[1].split() == ["source", *TYPES, "malformed"]
    assert lines[2].split() == ["payments", "1", "2", "0", "0", "-", "0", "-", "0", "1"]
    assert lines[3].split() == ["log", "-", "-", "-", "-", "1", "-", "0", "-", "-"]
    assert lines[4].split() == ["total", "1", "2", "0", "0", "1", "0", "0", "0", "1"]
    assert lines[5] == "remediation: 4 messages to topic fixes"
    assert lines[6] == f"report: {tmp_path / 'report.html'}"


def test_html_page_has_counts_chart_and_escaped_top_rows(tmp_path: Path) -> None:
    page = Path(report.write_html(None, a_summary(tmp_path), str(tmp_path / "report.html")))
    page = page.read_text()
    assert "<h1>Reconciliation 2026-11-25</h1>" in page
    assert "findings over thresholds: MISSING 1 &gt; 0, DUPLICATE 2 &gt; 0" in page
    # one stacked bar segment per (hour, class) with findings, with a tooltip
    assert page.count("<rect x=") == 2 + len(TYPES)  # bars + legend swatches
    assert "<title>11:00 DUPLICATE: 2</title>" in page
    assert "<title>12:00 MISSING: 1</title>" in page
    assert "<td>c2, c2b</td>" in page
    assert "e3&lt;script&gt;" in page and "e3<script>" not in page
    assert "<td>missing_event_id</td>" in page
    assert page.count("<p class=muted>none</p>") == 7  # every class but DUPLICATE


def test_json_summary_round_trips(tmp_path: Path) -> None:
    summary = a_summary(tmp_path)
    written = report.write_json(None, summary, str(tmp_path / "nested" / "summary.json"))
    assert json.loads(Path(written).read_text()) == summary


def test_remediation_message_id_is_stable_across_runs() -> None:
    finding = {
        "run_date": "2026-11-25",
        "source": "payments",
        "finding_type": "DUPLICATE",
        "event_id": "e2",
        "field": None,
        "effect_ids": ["c2", "c2b"],
        "action": "compensate",
        "detail": "x",
    }
    first, again = remediation.message(finding), remediation.message({**finding, "detail": "y"})
    assert first["remediation_id"] == again["remediation_id"]
    assert (
        remediation.message({**finding, "event_id": "e3"})["remediation_id"]
        != (first["remediation_id"])
    )
    assert first["action"] == "compensate" and first["event_id"] == "e2"
