"""The report renders what summary.build makes of classified findings (a few inline rows)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.domain import DEFAULT_THRESHOLDS, FINDING_TYPES, LOG_SOURCE, MALFORMED
from kafka_dedup.reconcile import remediation, report, report_html, sources, summary, unmerged
from kafka_dedup.reconcile.actions import with_run_columns
from kafka_dedup.reconcile.context import Progress, Run, filter_events_window
from kafka_dedup.reconcile.settings import Settings, parse_source
from kafka_dedup.reconcile.writer import collect_figures, write_text
from kafka_dedup.warehouse import Warehouse
from tests.reconcile_data import (
    EFFECTS_SCHEMA,
    PAYMENTS,
    at,
    classify_rows,
    delivery_row,
    event_row,
)

RUN_DATE = date(2026, 11, 25)
EVENTS = [
    event_row("k1", "e1", "order.paid", at(25, 10), 10.0),  # one effect: clean
    event_row("k2", "e2", "order.paid", at(25, 11), 20.0),  # charged twice
    event_row("k3", "e3<script>", "order.paid", at(25, 11, 30), 30.0),  # twice, and escaped
    event_row("k4", "e4", "order.paid", at(25, 12), 40.0),  # never charged: MISSING
    event_row("k5", "e5", "order.paid", at(24, 12), 50.0),  # the day before: not judged
]
EFFECTS = [
    ("c1", "e1", "k1", "10", "2026-11-25T10:01:00Z"),
    ("c2", "e2", "k2", "20", "2026-11-25T11:01:00Z"),
    ("c2b", "e2", "k2", "20", "2026-11-25T11:30:00Z"),
    ("c3", "e3<script>", "k3", "30", "2026-11-25T11:31:00Z"),
    ("c3b", "e3<script>", "k3", "30", "2026-11-25T11:40:00Z"),
    ("c5", "e5", "k5", "50", "2026-11-24T12:01:00Z"),
    ("c0", None, "k1", "1", "2026-11-25T10:00:00Z"),  # malformed: no event_id
]
LATE = delivery_row("k9", "late", "order.paid", at(25, 8), 15.0, offset=100)  # not in events


def a_run(config: Config, tmp_path: Path) -> Run:
    """The run of 2026-11-25 as of two days later; MALFORMED rows do not alert here."""
    settings = Settings(
        sources=(parse_source(0, PAYMENTS),),
        thresholds={**DEFAULT_THRESHOLDS, MALFORMED: None},
        remediation_topic="fixes",
    )
    return Run(
        config=config,
        settings=settings,
        run_date=RUN_DATE,
        as_of=at(27, 0),
        lake=Warehouse(str(tmp_path), "reports_test"),
        progress=Progress(RUN_DATE),
        run_id="r1",
        started_at=at(27, 0),
    )


def findings_of_the_day(spark: SparkSession, run: Run) -> DataFrame:
    """What the job writes: the source's findings, and the log's UNMERGED one."""
    source_df = with_run_columns(classify_rows(spark, EVENTS, EFFECTS), RUN_DATE, "payments")
    events_df = spark.createDataFrame(EVENTS, tables.EVENTS_SCHEMA)
    deliveries_df = spark.createDataFrame([LATE], tables.DELIVERIES_SCHEMA)
    unmerged_df = unmerged.find_unmerged(deliveries_df, events_df)
    log_df = with_run_columns(unmerged.to_findings(unmerged_df), RUN_DATE, LOG_SOURCE)
    return source_df.unionByName(log_df)


def effect_stats(spark: SparkSession) -> dict[str, Any]:
    """The payments source's counters, from its normalized rows."""
    raw_df = spark.createDataFrame(EFFECTS, EFFECTS_SCHEMA)
    normalized_df = sources.normalize_effects(raw_df, parse_source(0, PAYMENTS))
    malformed = normalized_df.where("malformed IS NOT NULL").collect()
    rows = [{"reason": r.malformed, "row": r.row_json} for r in malformed]
    return {"effects_read": len(EFFECTS), "malformed": len(rows), "malformed_rows": rows}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def built(spark: SparkSession, base_config: Config, reports: Path) -> dict[str, Any]:
    """summary.build over the figures collected from the classified rows, as the job does."""
    run = a_run(base_config, reports)
    events_df = spark.createDataFrame(EVENTS, tables.EVENTS_SCHEMA)
    day_events_df = filter_events_window(events_df, run.day_start, run.day_end)
    stats = {"payments": effect_stats(spark)}
    figures = collect_figures(findings_of_the_day(spark, run), day_events_df, run, stats)
    figures.unmerged_found, figures.unmerged_inserted, figures.published = 1, 1, 4
    finished = datetime(2026, 11, 27, 0, 0, 12, 300000, tzinfo=at(27, 0).tzinfo)
    return summary.with_report(summary.build(run, figures), run, str(reports), finished)


def test_summary_counts_the_classified_rows(built: dict[str, Any]) -> None:
    assert built["totals"] == {
        "MISSING": 1,
        "DUPLICATE": 2,
        "ORPHAN": 0,
        "MISMATCH": 0,
        "UNMERGED": 1,
        "LATE_EFFECT": 0,
        "UNMERGEABLE": 0,
        "PENDING": 0,
        "MALFORMED": 1,
    }
    assert (built["status"], built["exit_code"], built["events_in_day"]) == ("findings", 3, 4)
    assert built["thresholds_exceeded"] == ["MISSING", "DUPLICATE"]
    assert {k: v for k, v in built["hourly"].items() if any(v)} == {
        "MISSING": [0] * 12 + [1] + [0] * 11,
        "DUPLICATE": [0] * 11 + [2] + [0] * 12,
        "UNMERGED": [0] * 8 + [1] + [0] * 15,
    }
    assert [r["event_id"] for r in built["top"]["DUPLICATE"]] == ["e2", "e3<script>"]
    assert built["duration_s"] == 12.3


def test_terminal_table_lists_counts_by_source_and_class(
    built: dict[str, Any], reports: Path
) -> None:
    lines = report.terminal_table(built).splitlines()
    assert lines[0] == (
        "reconciliation 2026-11-25: findings over thresholds: MISSING 1 > 0, DUPLICATE 2 > 0 "
        "(exit 3)"
    )
    assert lines[1].split() == ["source", *FINDING_TYPES, "malformed"]
    assert lines[2].split() == ["payments", "1", "2", "0", "0", "-", "0", "-", "0", "1"]
    assert lines[3].split() == ["log", "-", "-", "-", "-", "1", "-", "0", "-", "-"]
    assert lines[4].split() == ["total", "1", "2", "0", "0", "1", "0", "0", "0", "1"]
    assert lines[5] == "remediation: 4 messages to topic fixes"
    assert lines[6] == f"report: {reports / 'report.html'}"
    assert lines[7] == f"summary: {reports / 'summary.json'}"


def test_html_page_has_counts_chart_and_escaped_top_rows(built: dict[str, Any]) -> None:
    page = report_html.page(built)
    assert "<h1>Reconciliation 2026-11-25</h1>" in page
    assert "findings over thresholds: MISSING 1 &gt; 0, DUPLICATE 2 &gt; 0" in page
    assert "4 events in the day; 1 late events merged; run r1 took 12.3 s" in page
    # one stacked bar segment per (hour, class) with findings, with a tooltip
    assert page.count("<rect x=") == 3 + len(FINDING_TYPES)  # bars + legend swatches
    assert "<title>11:00 DUPLICATE: 2</title>" in page
    assert "<title>12:00 MISSING: 1</title>" in page
    assert "<title>08:00 UNMERGED: 1</title>" in page
    assert "<td>c2, c2b</td>" in page
    assert "e3&lt;script&gt;" in page and "e3<script>" not in page
    assert "<td>missing_event_id</td>" in page
    # every class without findings says so: ORPHAN, MISMATCH, LATE_EFFECT, UNMERGEABLE, PENDING
    assert page.count("<p class=muted>none</p>") == 5


def test_json_summary_round_trips(built: dict[str, Any], tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "summary.json")
    written = write_text(None, path, report.json_text(built))
    assert json.loads(Path(written).read_text()) == built


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
