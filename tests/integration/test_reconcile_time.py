"""Reconcile over several days on real Delta tables and Parquet/JSON sources: every effect is
judged once, by the run of its day, wherever its event falls in time (issue 11)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config, apply
from kafka_dedup.reconcile.context import RunResult
from kafka_dedup.reconcile.job import run_reconcile
from tests.aws_fixtures import client, configure_s3a, make_bucket, s3_keys, with_s3
from tests.reconcile_data import at, delivery_of, delivery_row, event_row, read_table
from tests.reconcile_data import write_warehouse as write_tables

CHARGES_SCHEMA = (
    "charge_id string, event_id string, order_id string, amount double, charged_at timestamp"
)
SOURCE = {
    "key_column": "order_id",
    "effect_id_column": "charge_id",
    "effect_time_column": "charged_at",
    "expects_event_types": ["order.paid"],
    "compare": {"payload.amount": "amount"},
}
COLUMNS = ["run_date", "source", "finding_type", "key", "event_id", "effect_ids", "action"]


def setup(
    spark: SparkSession,
    base_config: Config,
    tmp_path: Path,
    events: list[tuple[Any, ...]],
    charges: list[tuple[Any, ...]],
    extra_deliveries: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
    **reconcile: Any,
) -> Config:
    """A warehouse with the events (and their deliveries), charges as Parquet, and a config."""
    warehouse = tmp_path / "warehouse"
    write_tables(spark, warehouse, events, [*(delivery_of(e) for e in events), *extra_deliveries])
    spark.createDataFrame(charges, CHARGES_SCHEMA).write.parquet(str(tmp_path / "charges"))
    source = {"name": "pay", "format": "parquet", "path": str(tmp_path / "charges"), **SOURCE}
    raw = {"sources": [source], **reconcile}
    database = f"time_{tmp_path.name.replace('-', '_')}"
    return apply(
        base_config,
        {"storage": {"warehouse": str(warehouse), "database": database}, "reconcile": raw},
        "test",
    )


def reconcile(spark: SparkSession, config: Config, day: int, as_of: datetime) -> RunResult:
    return run_reconcile(spark, config, date(2026, 11, day), as_of)


def findings(spark: SparkSession, config: Config, day: int | None = None) -> list[tuple]:
    found_df = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_FINDINGS)
    if day is not None:
        found_df = found_df.where(f"run_date = DATE'2026-11-{day:02d}'")
    return sorted(
        (r.run_date.day, r.source, r.finding_type, r.key, r.event_id, r.effect_ids, r.action)
        for r in found_df.select(*COLUMNS).collect()
    )


def test_a_second_charge_a_day_later_is_a_duplicate_of_the_charges_day(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    events = [
        event_row("k1", "e1", "order.paid", at(24, 10), 10.0, offset=1),
        # two orders that share an event id: two events, never pooled
        event_row("k2", "shared", "order.paid", at(25, 9), 20.0, offset=2),
        event_row("k3", "shared", "order.paid", at(25, 9), 30.0, offset=3),
    ]
    charges = [
        ("c1", "e1", "k1", 10.0, at(24, 10, 1)),
        ("c1b", "e1", "k1", 10.0, at(25, 12)),  # a downstream retry 26 hours later
        ("c2", "shared", "k2", 20.0, at(25, 9, 1)),  # k3's order was never charged
    ]
    config = setup(spark, base_config, tmp_path, events, charges)
    as_of = at(27, 0)

    assert reconcile(spark, config, 24, as_of).exit_code == 0  # the 24th's charge is fine
    result = reconcile(spark, config, 25, as_of)
    assert result.exit_code == 3
    assert findings(spark, config) == [
        (25, "pay", "DUPLICATE", "k1", "e1", ["c1", "c1b"], "compensate"),
        (25, "pay", "MISSING", "k3", "shared", [], "replay"),
    ]
    detail = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_FINDINGS)
    duplicate = detail.where("finding_type = 'DUPLICATE'").first()
    assert duplicate is not None
    assert duplicate.detail == (
        "2 effects in pay for one event of 2026-11-24 (expected 1); extra on 2026-11-25: c1b"
    )
    # the report goes next to the warehouse by default
    folder = Path(config.storage.warehouse) / "_reports" / "2026-11-25"
    assert result.summary["report"]["json"] == str(folder / "summary.json")
    assert json.loads((folder / "summary.json").read_text())["totals"]["DUPLICATE"] == 1
    assert (folder / "report.html").is_file()

    # re-running either date gives identical findings, even after a third, later charge
    before = sorted(detail.collect())
    spark.createDataFrame([("c1c", "e1", "k1", 10.0, at(26, 8))], CHARGES_SCHEMA).write.mode(
        "append"
    ).parquet(str(tmp_path / "charges"))
    assert reconcile(spark, config, 25, as_of).exit_code == 3
    assert reconcile(spark, config, 24, as_of).exit_code == 0
    again = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_FINDINGS)
    assert sorted(again.collect()) == before


def test_pending_events_are_rechecked_and_a_run_before_the_day_ends_is_partial(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    events = [
        event_row("k1", "never", "order.paid", at(25, 23, 30), 10.0, offset=1),
        event_row("k2", "after-run", "order.paid", at(25, 23, 40), 20.0, offset=2),
    ]
    charges = [("c2", "after-run", "k2", 20.0, at(26, 0, 20))]  # after the first run's as_of
    config = setup(spark, base_config, tmp_path, events, charges)

    early = reconcile(spark, config, 25, at(26, 0, 10))  # inside the 1 hour grace
    assert (early.exit_code, early.summary["status"], early.summary["partial"]) == (
        4,
        "partial",
        True,
    )
    assert early.summary["pending"] == 2
    assert findings(spark, config) == [
        (25, "pay", "PENDING", "k1", "never", [], "wait"),
        (25, "pay", "PENDING", "k2", "after-run", [], "wait"),
    ]
    found_df = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_FINDINGS)
    assert [r.partial for r in found_df.collect()] == [True, True]
    runs_df = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_RUNS)
    assert [r.status for r in runs_df.collect()] == ["partial"]

    # the next day's run checks them again: one resolved by its charge, one MISSING
    later = reconcile(spark, config, 26, at(27, 2))
    assert (later.exit_code, later.summary["partial"]) == (3, False)
    assert findings(spark, config, 26) == [(26, "pay", "MISSING", "k1", "never", [], "replay")]
    missing = read_table(spark, Path(config.storage.warehouse), tables.RECONCILIATION_FINDINGS)
    row = missing.where("run_date = DATE'2026-11-26'").first()
    assert row is not None and "for the event of 2026-11-25" in row.detail


def test_malformed_effects_and_stale_unmerged_deliveries_alert(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    events = [event_row("k1", "ok", "order.paid", at(25, 10), 10.0, offset=1)]
    stale = delivery_row(
        "k9", "stale", "order.paid", at(10, 10), 15.0, offset=50, ingested=at(25, 6)
    )
    config = setup(
        spark,
        base_config,
        tmp_path,
        events,
        [("c1", "ok", "k1", 10.0, at(25, 10, 1))],
        extra_deliveries=[stale],
    )
    bad = [
        {
            "charge_id": "cx",
            "event_id": None,
            "order_id": "k1",
            "charged_at": "2026-11-25T11:00:00Z",
        },
        {"charge_id": "cy", "event_id": "ok", "order_id": "k1", "charged_at": "yesterday-ish"},
    ]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "part-0.json").write_text("\n".join(json.dumps(b) for b in bad))
    sources = [
        *config.reconcile.sources,
        {
            "name": "bad",
            "format": "json",
            "path": str(tmp_path / "bad"),
            "key_column": "order_id",
            "effect_id_column": "charge_id",
            "effect_time_column": "charged_at",
        },
    ]
    config = apply(config, {"reconcile": {"sources": sources}}, "test")

    result = reconcile(spark, config, 25, at(27, 0))
    assert result.exit_code == 3
    assert result.summary["thresholds_exceeded"] == ["UNMERGEABLE", "MALFORMED"]
    assert (result.summary["totals"]["MALFORMED"], result.summary["unmergeable"]) == (2, 1)
    assert sorted(r["reason"] for r in result.summary["malformed"]["bad"]) == [
        "invalid_effect_time",
        "missing_event_id",
    ]
    assert findings(spark, config) == [(25, "log", "UNMERGEABLE", "k9", "stale", [], "investigate")]
    html = Path(result.summary["report"]["html"]).read_text()
    assert "<td>invalid_effect_time</td>" in html and "<td>missing_event_id</td>" in html


def test_report_and_summary_go_to_s3_when_report_dir_is_a_uri(
    spark: SparkSession, base_config: Config, moto_endpoint: str, tmp_path: Path
) -> None:
    bucket = make_bucket(moto_endpoint, f"reports-{uuid.uuid4().hex[:8]}")
    events = [event_row("k1", "ok", "order.paid", at(25, 10), 10.0, offset=1)]
    config = setup(spark, base_config, tmp_path, events, [("c1", "ok", "k1", 10.0, at(25, 10))])
    config = apply(
        with_s3(config, moto_endpoint),
        {"reconcile": {"report_dir": f"s3a://{bucket}/reports"}},
        "test",
    )
    configure_s3a(spark, config)

    result = reconcile(spark, config, 25, at(27, 0))
    assert result.exit_code == 0
    folder = f"s3a://{bucket}/reports/2026-11-25"
    assert result.summary["report"] == {
        "html": f"{folder}/report.html",
        "json": f"{folder}/summary.json",
    }
    assert s3_keys(moto_endpoint, bucket, "reports/") == [
        "reports/2026-11-25/report.html",
        "reports/2026-11-25/summary.json",
    ]
    body = client("s3", moto_endpoint).get_object(
        Bucket=bucket, Key="reports/2026-11-25/summary.json"
    )["Body"]
    assert json.loads(body.read())["run_id"] == result.summary["run_id"]
