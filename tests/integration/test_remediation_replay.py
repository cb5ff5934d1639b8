"""Remediation never causes a second effect: the reference consumer replays reconcile's
findings from the remediation topic into a real SQLite charges database, read back by JDBC."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config, apply
from kafka_dedup.downstream.store import Charge, open_store
from kafka_dedup.kafka.producer import Event, EventProducer
from kafka_dedup.reconcile.job import run_reconcile
from tests.integration.test_broker import create_topic
from tests.reconcile_data import (
    at,
    delivery_of,
    event_row,
    jdbc_source,
    read_table,
    write_warehouse,
)

EVENTS = [
    event_row("k1", "late", "order.paid", at(22, 10), 10.0, offset=1),
    event_row("k2", "never", "order.paid", at(22, 11), 20.0, offset=2),
    event_row("k3", "on-time", "order.paid", at(22, 12), 30.0, offset=3),
]

ONE_EACH = {("k1", "late"): 1, ("k2", "never"): 1, ("k3", "on-time"): 1}


def charge(charge_id: str, event_id: str, key: str, amount: float, when: object) -> Charge:
    return Charge(charge_id, event_id, key, amount, "EUR", when, "settlement", 0, 0)  # type: ignore[arg-type]


def consume(bootstrap: str, topic: str, database: Path) -> str:
    """The reference consumer as a user runs it, idempotent, until the topic is consumed."""
    command = [
        sys.executable, "-m", "kafka_dedup.cli", "downstream", "--mode", "idempotent",
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group", f"g-{topic}",
        "--database", str(database), "--stop-at-end",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def charges_by_event(database: Path) -> dict[tuple[str, str], int]:
    query = "SELECT order_id, event_id, COUNT(*) FROM charges GROUP BY order_id, event_id"
    with sqlite3.connect(database) as conn:
        return {(k, e): n for k, e, n in conn.execute(query).fetchall()}


def test_replay_only_without_any_effect_then_exactly_one_charge_each(
    spark: SparkSession, base_config: Config, kafka_bootstrap: str, tmp_path: Path
) -> None:
    warehouse, database = tmp_path / "warehouse", tmp_path / "charges.db"
    write_warehouse(spark, warehouse, EVENTS, [delivery_of(e) for e in EVENTS])
    store = open_store(str(database))
    try:  # written by a settlement batch, not by the consumer: no processed-events row
        store.charge(charge("c-late", "late", "k1", 10.0, at(25, 8)), idempotent=False)
        store.charge(charge("c-ok", "on-time", "k3", 30.0, at(22, 12, 1)), idempotent=False)
    finally:
        store.close()
    topic = f"remediation-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=1)
    source = jdbc_source("payments", f"jdbc:sqlite:{database}")
    config = apply(
        base_config,
        {
            "storage": {"warehouse": str(warehouse), "database": "remediation_replay"},
            "kafka": {"bootstrap_servers": kafka_bootstrap},
            "reconcile": {"remediation_topic": topic, "sources": [source]},
        },
        "test",
    )

    # the run of the events' day: the late charge exists, so only "never" is replayed
    result = run_reconcile(spark, config, date(2026, 11, 22), at(27, 0))
    assert result.summary["remediation"]["published"] == 1
    found_df = read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS)
    assert [(r.finding_type, r.event_id, r.action) for r in found_df.collect()] == [
        ("MISSING", "never", "replay")
    ]
    output = consume(kafka_bootstrap, topic, database)
    assert "charged 1," in output
    assert charges_by_event(database) == ONE_EACH

    # the late charge is judged by the run of its own day: review, never replay
    result = run_reconcile(spark, config, date(2026, 11, 25), at(27, 0))
    late_df = read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS)
    late = late_df.where("run_date = DATE'2026-11-25'").collect()
    assert [(r.finding_type, r.key, r.event_id, r.effect_ids, r.action) for r in late] == [
        ("LATE_EFFECT", "k1", "late", ["c-late"], "review")
    ]
    assert result.summary["remediation"]["published"] == 1
    consume(kafka_bootstrap, topic, database)  # the review message charges nothing
    assert charges_by_event(database) == ONE_EACH


def test_idempotent_consumer_keeps_two_keys_sharing_an_event_id_apart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=1)
    first = Event("order-1", "order.paid", at(25, 10), {"amount": 5.0}, event_id="same")
    second = Event("order-2", "order.paid", at(25, 10), {"amount": 7.0}, event_id="same")
    with EventProducer(kafka_bootstrap, "checkout-1") as producer:
        for event in (first, second, first):  # the last is a redelivery of the first
            producer.send(topic, event)
    database = tmp_path / "c.db"
    output = consume(kafka_bootstrap, topic, database)
    assert "charged 2, skipped seen 1" in output
    assert charges_by_event(database) == {("order-1", "same"): 1, ("order-2", "same"): 1}
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT order_id, event_id FROM processed_events ORDER BY 1").fetchall()
    assert rows == [("order-1", "same"), ("order-2", "same")]
