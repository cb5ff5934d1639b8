"""The reconcile job end to end on real Delta tables and real Parquet/JSON/CSV/Delta sources."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from pyspark.sql import Row, SparkSession

from kafka_dedup import cli, tables
from kafka_dedup.config import Config, apply
from kafka_dedup.reconcile.job import run_reconcile
from tests.integration.test_broker import create_topic
from tests.reconcile_data import (
    at,
    delivery_of,
    delivery_row,
    event_row,
    read_table,
    write_warehouse,
)

RUN_DATE = "2026-11-25"
AS_OF = "2026-11-27T00:00:00Z"
CHARGES_SCHEMA = (
    "charge_id string, event_id string, order_id string, amount double, charged_at timestamp"
)
FORMATS = ("parquet", "json")  # planted; CSV and Delta are read by the clean-source test

EVENTS = [
    event_row("k1", "ok", "order.paid", at(25, 10), 10.0, offset=1),
    event_row("k2", "dup", "order.paid", at(25, 11), 20.0, offset=2),
    event_row("k3", "missing", "order.paid", at(25, 12), 30.0, offset=3),
    event_row("k4", "mismatch", "order.paid", at(25, 13), 40.0, offset=4),
    event_row("k5", "created", "order.created", at(25, 9), 50.0, offset=5),
    event_row("k6", "edge", "order.paid", at(25, 23, 59, 30), 60.0, offset=6),
    event_row("k7", "yesterday", "order.paid", at(24, 23, 59), 70.0, offset=7),
    event_row("k8", "old", "order.paid", at(20, 10), 80.0, offset=8),
]
LATE = [delivery_row("k9", "late", "order.paid", at(25, 8), 15.0, offset=o) for o in (100, 101)]
DELIVERIES = [
    *(delivery_of(e) for e in EVENTS),
    *LATE,  # valid, behind the watermark: in deliveries, not in events
    delivery_row(None, None, "order.paid", None, None, offset=102, parse_error="invalid_json"),
]
CHARGES = [
    ("c1", "ok", "k1", 10.0, at(25, 10, 1)),
    ("c2", "dup", "k2", 20.0, at(25, 11, 1)),
    ("c2b", "dup", "k2", 20.0, at(25, 23, 0)),  # redelivered in the evening (the next day's
    # run would judge it, were it after midnight: tests/integration/test_reconcile_time.py)
    ("c4", "mismatch", "k4", 41.0, at(25, 13, 1)),
    ("c6", "edge", "k6", 60.0, at(26, 0, 0, 30)),  # lands after midnight: not MISSING
    ("c7", "yesterday", "k7", 70.0, at(25, 0, 1)),  # event the day before: not ORPHAN
    ("c8", "old", "k8", 80.0, at(25, 5)),  # event far back, in the log: LATE_EFFECT, not ORPHAN
    ("c9", "ghost", "k0", 1.0, at(25, 9)),
    ("cl", "late", "k9", 15.0, at(25, 8, 5)),  # its event is merged by the run first
]


def write_sources(spark: SparkSession, folder: Path) -> None:
    """The charges as Parquet, and as JSON lines with two malformed rows."""
    spark.createDataFrame(CHARGES, CHARGES_SCHEMA).write.parquet(str(folder / "parquet"))
    lines = [
        {"charge_id": c, "event_id": e, "order_id": k, "amount": a, "charged_at": t.isoformat()}
        for c, e, k, a, t in CHARGES
    ]
    lines.append(
        {
            "charge_id": "cx",
            "event_id": None,
            "order_id": "k1",
            "amount": 1.0,
            "charged_at": "2026-11-25T10:00:00Z",
        }
    )
    lines.append(
        {
            "charge_id": "cy",
            "event_id": "ok",
            "order_id": "k1",
            "amount": 10.0,
            "charged_at": "not a time",
        }
    )
    (folder / "json").mkdir()
    (folder / "json" / "part-0.json").write_text("\n".join(json.dumps(line) for line in lines))


def source_toml(name: str, fmt: str, path: Path) -> str:
    return f"""
[[reconcile.sources]]
name = "{name}"
format = "{fmt}"
path = "{path}"
event_id_column = "event_id"
key_column = "order_id"
effect_id_column = "charge_id"
effect_time_column = "charged_at"
expects_event_types = ["order.paid"]
compare = {{ "payload.amount" = "amount" }}
"""


def write_config(tmp_path: Path, sources: str, database: str) -> Path:
    file = tmp_path / "reconcile.toml"
    file.write_text(
        f'[spark]\nshuffle_partitions = 2\n\n[storage]\ndatabase = "{database}"\n\n'
        f'[reconcile]\nreport_dir = "{tmp_path / "reports"}"\n{sources}'
    )
    return file


def findings(spark: SparkSession, warehouse: Path) -> list[Row]:
    columns = ["source", "finding_type", "event_id", "effect_ids", "field", "expected", "actual"]
    found_df = read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS)
    return sorted(found_df.select(*columns, "action").collect())


def test_planted_discrepancies_every_class_and_identical_rerun(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "warehouse"
    write_warehouse(spark, warehouse, EVENTS, DELIVERIES)
    write_sources(spark, tmp_path)
    sources = "".join(source_toml(f"pay_{fmt}", fmt, tmp_path / fmt) for fmt in FORMATS)
    config = write_config(tmp_path, sources, "reconcile_planted")
    argv = [
        "reconcile",
        "--config",
        str(config),
        "--date",
        RUN_DATE,
        "--warehouse",
        str(warehouse),
        "--as-of",
        AS_OF,
    ]

    assert cli.main(argv) == 3  # findings over the default thresholds
    out = capsys.readouterr().out
    assert "findings over thresholds: MISSING 2 > 0, DUPLICATE 2 > 0, ORPHAN 2 > 0, " in out
    assert "LATE_EFFECT 2 > 0, MALFORMED 2 > 0 (exit 3)" in out
    pay_json = next(line for line in out.splitlines() if line.startswith("pay_json"))
    assert pay_json.split() == ["pay_json", "1", "1", "1", "1", "-", "1", "-", "0", "2"]

    expected = []
    for fmt in FORMATS:
        source = f"pay_{fmt}"
        expected += [
            Row(source, "DUPLICATE", "dup", ["c2", "c2b"], None, None, None, "compensate"),
            Row(
                source,
                "MISMATCH",
                "mismatch",
                ["c4"],
                "payload.amount",
                "40.0",
                "41.0",
                "investigate",
            ),
            Row(source, "MISSING", "missing", [], None, None, None, "replay"),
            Row(source, "LATE_EFFECT", "old", ["c8"], None, None, None, "review"),
            Row(source, "ORPHAN", "ghost", ["c9"], None, None, None, "investigate"),
        ]
    expected.append(Row("log", "UNMERGED", "late", [], None, None, None, "investigate"))
    assert [tuple(r) for r in findings(spark, warehouse)] == sorted(tuple(r) for r in expected)

    # the late event is now in the log and in the entity state, marked as merged by the run
    events_df = read_table(spark, warehouse, tables.EVENTS)
    late = events_df.where("event_id = 'late'").collect()
    assert [(r.key, r.merged_by, r.offset) for r in late] == [("k9", "reconcile", 100)]
    state = read_table(spark, warehouse, tables.ENTITY_STATE).collect()
    assert [(r.key, r.event_id) for r in state] == [("k9", "late")]

    runs = read_table(spark, warehouse, tables.RECONCILIATION_RUNS).collect()
    assert len(runs) == 1
    run = runs[0]
    assert (
        run.status,
        run.exit_code,
        run.missing,
        run.duplicate,
        run.orphan,
        run.mismatch,
        run.unmerged,
        run.late_effect,
        run.unmerged_inserted,
        run.malformed_effects,
        run.pending,
    ) == ("findings", 3, 2, 2, 2, 2, 1, 2, 1, 2, 0)
    assert run.events_in_day == 7  # ok, dup, missing, mismatch, created, edge, late (merged)
    summary = json.loads((tmp_path / "reports" / RUN_DATE / "summary.json").read_text())
    assert summary["totals"] == {
        "MISSING": 2,
        "DUPLICATE": 2,
        "ORPHAN": 2,
        "MISMATCH": 2,
        "UNMERGED": 1,
        "LATE_EFFECT": 2,
        "UNMERGEABLE": 0,
        "PENDING": 0,
        "MALFORMED": 2,
    }
    assert {r["reason"] for r in summary["malformed"]["pay_json"]} == {
        "missing_event_id",
        "invalid_effect_time",
    }
    page = (tmp_path / "reports" / RUN_DATE / "report.html").read_text()
    assert "<title>23:00 DUPLICATE: 2</title>" in page and "<td>c2, c2b</td>" in page

    # a re-run of the same date replaces its rows: the tables read back identical
    before = {
        n: sorted(read_table(spark, warehouse, n).drop("ingested_at", "updated_at").collect())
        for n in (tables.EVENTS, tables.ENTITY_STATE)
    }
    full_before = sorted(read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS).collect())
    assert cli.main(argv) == 3
    full_after = sorted(read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS).collect())
    assert full_after == full_before
    for name, rows in before.items():
        again = read_table(spark, warehouse, name).drop("ingested_at", "updated_at").collect()
        assert sorted(again) == rows
    assert read_table(spark, warehouse, tables.RECONCILIATION_RUNS).count() == 1


def test_clean_source_no_alert_and_remediation_for_unmerged(
    spark: SparkSession, base_config: Config, kafka_bootstrap: str, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    write_warehouse(spark, warehouse, EVENTS[:1], [*DELIVERIES[:1], *LATE])
    clean = [("c1", "ok", "k1", 10.0, at(25, 10, 1)), ("cl", "late", "k9", 15.0, at(25, 8, 5))]
    clean_df = spark.createDataFrame(clean, CHARGES_SCHEMA)
    clean_df.write.option("header", "true").csv(str(tmp_path / "csv"))  # every value as text
    clean_df.write.format("delta").save(str(tmp_path / "delta"))
    topic = f"remediation-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=1)
    raw = {
        "report_dir": str(tmp_path / "reports"),
        "remediation_topic": topic,
        "sources": [
            {
                "name": f"pay_{fmt}",
                "format": fmt,
                "path": str(tmp_path / fmt),
                "key_column": "order_id",
                "effect_id_column": "charge_id",
                "effect_time_column": "charged_at",
                "expects_event_types": ["order.paid"],
                "compare": {"payload.amount": "amount"},
            }
            for fmt in ("csv", "delta")
        ],
    }
    config = apply(
        base_config,
        {
            "storage": {"warehouse": str(warehouse), "database": "reconcile_clean"},
            "kafka": {"bootstrap_servers": kafka_bootstrap},
            "reconcile": raw,
        },
        "test",
    )
    result = run_reconcile(spark, config, date(2026, 11, 25), at(27, 0))

    assert result.exit_code == 0  # the only finding is UNMERGED, repaired by the run
    assert result.summary["status"] == "clean"
    assert [tuple(r) for r in findings(spark, warehouse)] == [
        ("log", "UNMERGED", "late", [], None, None, None, "investigate")
    ]
    for fmt in ("csv", "delta"):
        assert result.summary["by_source"][f"pay_{fmt}"]["effects_read"] == 2
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    messages = []
    try:
        while len(messages) < 2:
            message = consumer.poll(5.0)
            if message is None:
                break
            messages.append(message)
    finally:
        consumer.close()
    assert len(messages) == 1
    body = json.loads(messages[0].value())
    assert messages[0].key() == b"late"
    assert (body["finding_type"], body["action"], body["source"], body["run_date"]) == (
        "UNMERGED",
        "investigate",
        "log",
        RUN_DATE,
    )
    assert len(body["remediation_id"]) == 32


def test_bad_input_fails_before_writing(
    spark: SparkSession, kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "warehouse"
    config = write_config(tmp_path, source_toml("payments", "parquet", tmp_path / "nope"), "bad")
    base = ["reconcile", "--config", str(config), "--warehouse", str(warehouse)]

    assert cli.main([*base, "--date", "25/11/2026"]) == 2
    assert "--date '25/11/2026': expected a day as YYYY-MM-DD" in capsys.readouterr().err
    assert cli.main([*base, "--date", RUN_DATE]) == 2
    assert "no deliveries table at" in capsys.readouterr().err

    write_warehouse(spark, warehouse, EVENTS[:1], DELIVERIES[:1])
    assert cli.main([*base, "--date", RUN_DATE]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
    assert err.startswith("kafka-dedup reconcile: error: source payments: cannot read parquet at")
    assert "Path does not exist" in err
    topic_flags = ["--remediation-topic", "no-such-topic", "--bootstrap-servers", kafka_bootstrap]
    empty = write_config(tmp_path, "", "bad")
    argv = ["reconcile", "--config", str(empty), "--warehouse", str(warehouse), "--date", RUN_DATE]
    assert cli.main([*argv, *topic_flags]) == 2
    assert "remediation topic 'no-such-topic' does not exist" in capsys.readouterr().err
    # nothing was written by the failed runs
    assert not (warehouse / tables.RECONCILIATION_FINDINGS).exists()
    assert not (warehouse / tables.RECONCILIATION_RUNS).exists()
