"""The reference consumer against real SQLite and PostgreSQL, then reconciled with Spark JDBC.

Naive mode with injected crashes must double-charge, and reconciliation must find exactly
those duplicates; idempotent mode must charge each event once.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config, apply
from kafka_dedup.downstream.consumer import CRASH_EXIT_CODE
from kafka_dedup.kafka import broker
from kafka_dedup.kafka.producer import Event, EventProducer
from kafka_dedup.reconcile.context import RunResult
from kafka_dedup.reconcile.job import run_reconcile
from tests.integration.test_broker import create_topic
from tests.reconcile_data import (
    delivery_of,
    event_row,
    jdbc_source,
    read_table,
    write_warehouse,
)

ORDERS = 20
CRASH_EVERY = 7
# 20 order.paid events plus one application resend of the first: 21 messages. Each crash
# leaves one written-but-uncommitted message to be redelivered; a restarted consumer gets
# CRASH_EVERY - 1 new messages further before its next crash.
MESSAGES = ORDERS + 1
CRASHES = (MESSAGES - 1) // (CRASH_EVERY - 1)


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (installed by `make test` when absent)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    return found[-1].parent


def as_postgres_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: drop to the postgres OS user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port, stopped and removed after."""
    bin_dir = postgres_bin()
    home = Path(tempfile.mkdtemp(prefix="kafka-dedup-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data, port = home / "data", broker.free_port()
    subprocess.run(
        as_postgres_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    subprocess.run(
        as_postgres_user([*pg_ctl, "-l", str(home / "log"), "-o", options, "start"]),
        check=True,
        capture_output=True,
    )
    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            for name in ("naive", "idempotent"):
                conn.execute(f"CREATE DATABASE {name}")
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            as_postgres_user([*pg_ctl, "-m", "immediate", "stop"]), check=False, capture_output=True
        )
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Scenario:
    events: list[Event]
    outputs: dict[str, str]  # source name -> consumer stdout
    charges: dict[str, dict[str, int]]  # source name -> event_id -> charge rows
    result: RunResult
    findings: list[Any]


def publish(bootstrap: str) -> tuple[str, list[Event]]:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=3)
    when = datetime.now(timezone.utc) - timedelta(minutes=10)
    events = [
        Event(f"order-{i:06d}", "order.paid", when, {"amount": 10 + i * 1.25, "currency": "EUR"})
        for i in range(ORDERS)
    ]
    with EventProducer(bootstrap, "checkout-1") as producer:
        for event in events:
            producer.send(topic, event)
        producer.send(topic, events[0])  # an application resend: same event_id, new offset
    return topic, events


def run_consumer(bootstrap: str, topic: str, group: str, mode: str, database: str) -> str:
    """The CLI as a user runs it: crashes injected, restarted until the topic is consumed."""
    command = [
        sys.executable,
        "-m",
        "kafka_dedup.cli",
        "downstream",
        "--mode",
        mode,
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--database",
        database,
        "--crash-after-process-every",
        str(CRASH_EVERY),
        "--restart-on-crash",
        "--stop-at-end",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def charge_counts(database: str, url: str | None) -> dict[str, int]:
    query = "SELECT event_id, COUNT(*) FROM charges GROUP BY event_id"
    if url is None:
        with sqlite3.connect(database) as conn:
            return {e: n for e, n in conn.execute(query).fetchall()}
    with psycopg.connect(url) as conn:
        return {e: n for e, n in conn.execute(query).fetchall()}


@pytest.fixture(scope="module")
def scenario(
    spark: SparkSession,
    base_config: Config,
    kafka_bootstrap: str,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    folder = tmp_path_factory.mktemp("downstream")
    topic, events = publish(kafka_bootstrap)
    pg_port = postgres_url.rsplit(":", 1)[1]
    databases = {
        "sqlite_naive": (str(folder / "naive.db"), f"jdbc:sqlite:{folder / 'naive.db'}", None),
        "sqlite_idempotent": (str(folder / "idem.db"), f"jdbc:sqlite:{folder / 'idem.db'}", None),
        "pg_naive": (
            f"{postgres_url}/naive",
            f"jdbc:postgresql://127.0.0.1:{pg_port}/naive?user=postgres",
            f"{postgres_url}/naive",
        ),
        "pg_idempotent": (
            f"{postgres_url}/idempotent",
            f"jdbc:postgresql://127.0.0.1:{pg_port}/idempotent?user=postgres",
            f"{postgres_url}/idempotent",
        ),
    }
    outputs, charges = {}, {}
    for name, (database, _, url) in databases.items():
        mode = name.split("_", 1)[1]
        outputs[name] = run_consumer(kafka_bootstrap, topic, f"{name}-{topic}", mode, database)
        charges[name] = charge_counts(database, url)

    warehouse = folder / "warehouse"
    rows = [
        event_row(e.key, e.event_id, e.event_type, e.event_time, e.payload["amount"], i)
        for i, e in enumerate(events)
    ]
    write_warehouse(spark, warehouse, rows, [delivery_of(r) for r in rows])
    raw = {
        "report_dir": str(folder / "reports"),
        "sources": [jdbc_source(name, jdbc) for name, (_, jdbc, _) in databases.items()],
    }
    config = apply(
        base_config,
        {"storage": {"warehouse": str(warehouse), "database": "downstream_it"}, "reconcile": raw},
        "test",
    )
    result = run_reconcile(spark, config, events[0].event_time.date())
    found_df = read_table(spark, warehouse, tables.RECONCILIATION_FINDINGS)
    return Scenario(events, outputs, charges, result, found_df.collect())


@pytest.mark.parametrize("database", ["sqlite", "pg"])
def test_naive_mode_with_crashes_double_charges_and_reconcile_finds_each(
    scenario: Scenario, database: str
) -> None:
    source = f"{database}_naive"
    charges = scenario.charges[source]
    assert f"consumer restarts after crashes: {CRASHES}" in scenario.outputs[source]
    assert set(charges) == {e.event_id for e in scenario.events}
    assert sum(charges.values()) == MESSAGES + CRASHES  # every redelivery charged again
    duplicated = {event_id: n for event_id, n in charges.items() if n > 1}
    assert len(duplicated) >= 1
    assert scenario.events[0].event_id in duplicated  # the resend alone charges twice
    found = {f.event_id: f.effect_count for f in scenario.findings if f.source == source}
    assert found == duplicated
    kinds = {f.finding_type for f in scenario.findings if f.source == source}
    assert kinds == {"DUPLICATE"}
    assert scenario.result.summary["by_source"][source]["DUPLICATE"] == len(duplicated)
    assert scenario.result.exit_code == 3


@pytest.mark.parametrize("database", ["sqlite", "pg"])
def test_idempotent_mode_charges_each_event_once(scenario: Scenario, database: str) -> None:
    source = f"{database}_idempotent"
    assert f"consumer restarts after crashes: {CRASHES}" in scenario.outputs[source]
    assert scenario.charges[source] == {e.event_id: 1 for e in scenario.events}
    assert (
        f"charges: {ORDERS} rows for {ORDERS} events (0 duplicate charges)"
        in (scenario.outputs[source])
    )
    assert [f for f in scenario.findings if f.source == source] == []
    counts = scenario.result.summary["by_source"][source]
    assert (counts["effects_read"], counts["malformed"], counts["MISMATCH"]) == (ORDERS, 0, 0)


def test_crash_exit_code_is_distinct_without_restart(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic, _ = publish(kafka_bootstrap)
    command = [
        sys.executable,
        "-m",
        "kafka_dedup.cli",
        "downstream",
        "--mode",
        "naive",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic",
        topic,
        "--database",
        str(tmp_path / "c.db"),
        "--crash-after-process-every",
        "3",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == CRASH_EXIT_CODE
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM charges").fetchone() == (3,)
    bad = subprocess.run([*command[:-1], "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "--crash-after-process-every must be 0 (never) or >= 2" in bad.stderr
