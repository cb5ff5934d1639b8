"""Crash safety and graceful stop of the real `kafka-dedup ingest` process.

A SIGTERM finishes the micro-batch in flight and exits 0; a SIGKILL in the middle of a run
keeps the ingest_batches rows written before it, and a restart still leaves every table
exactly as the manifest says.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.chaos import process as chaos_process
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish, simulator
from kafka_dedup.warehouse import Warehouse
from tests.integration.ingest_helpers import (
    expected_events,
    expected_state,
    identities,
    ingest_config,
    ingest_target,
    offsets_of,
    read,
)

TOPIC = "orders-crash"
PER_TRIGGER = 20
# Bounded batches let Kafka partitions of different density drift apart in event time;
# a watermark wider than the whole stream keeps this test about crashes, not lateness.
WATERMARK = "12 hours"
WAIT_S = 180


def start_ingest(config: Config, log: Path, topic: str = TOPIC) -> subprocess.Popen[bytes]:
    """`kafka-dedup ingest` in its own process group, continuous trigger, small batches."""
    return chaos_process.start_ingest(
        ingest_target(config, topic), log, "1 second",
        "--max-offsets-per-trigger", str(PER_TRIGGER), "--watermark", WATERMARK,
    )  # fmt: skip


def wait_for_commits(
    config: Config, query: str, count: int, process: subprocess.Popen[bytes]
) -> None:
    commits = Path(config.storage.checkpoints, query, "commits")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "ingest exited early"
        if commits.is_dir() and len([p for p in commits.iterdir() if p.name.isdigit()]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {count} commits of {query} within {WAIT_S} s")


def _batches_recorded(spark: SparkSession, config: Config) -> list[Any]:
    lake = Warehouse.of(config, spark)
    if not lake.exists(tables.INGEST_BATCHES):
        return []
    return lake.read(tables.INGEST_BATCHES).where("query = 'deliveries'").collect()


def test_sigterm_then_sigkill_then_restart_matches_manifest(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    publish.ensure_topic(kafka_bootstrap, TOPIC, partitions=3)
    stream = simulator.generate(150, seed=99, mix=simulator.Mix(late_duplicate=0, late_unique=0))
    half = len(stream.records) // 3
    coordinates = publish.publish(
        stream, kafka_bootstrap, TOPIC, (simulator.MAIN,), indices=range(half)
    )
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, TOPIC)
    config = dataclasses.replace(
        config, ingest=dataclasses.replace(config.ingest, watermark=WATERMARK)
    )
    log = tmp_path / "ingest.log"

    # 1. a polite stop: the batch in flight completes and the process exits 0
    polite = start_ingest(config, log)
    try:
        wait_for_commits(config, "events", 1, polite)
        polite.send_signal(signal.SIGTERM)
        assert polite.wait(timeout=WAIT_S) == 0, log.read_text()[-3000:]
    finally:
        if polite.poll() is None:
            os.killpg(polite.pid, signal.SIGKILL)
    assert "stopped by signal" in log.read_text()

    # 2. a crash: SIGKILL to the whole process group in the middle of the run
    rest = range(half, len(stream.records))
    coordinates.update(
        publish.publish(stream, kafka_bootstrap, TOPIC, (simulator.MAIN,), indices=rest)
    )
    done = len(list(Path(config.storage.checkpoints, "deliveries", "commits").glob("[0-9]*")))
    crashed = start_ingest(config, log)
    try:
        wait_for_commits(config, "deliveries", done + 2, crashed)
    finally:
        os.killpg(crashed.pid, signal.SIGKILL)
        crashed.wait(timeout=30)
    deliveries = read(spark, config, tables.DELIVERIES)
    assert 0 < len(deliveries) < len(stream.records), "the crash was not mid-run"
    # the ingest_batches rows written before the kill survive it, each with its batch's figures
    recorded = _batches_recorded(spark, config)
    assert len(recorded) >= 2
    for row in recorded:
        batch = [d for d in deliveries if d.ingest_batch_id == row.batch_id]
        malformed = sum(1 for d in batch if d.parse_error is not None)
        assert (row.records_read, row.malformed) == (len(batch), malformed)

    # 3. restart (available-now) and compare with the ground truth
    run_ingest(spark, config)
    offsets = offsets_of(spark, config, tables.DELIVERIES)
    assert set(offsets.values()) == {1}
    assert set(offsets) == set(coordinates.values())
    events = identities(spark, config)
    assert set(events.values()) == {1}
    assert set(events) == expected_events(stream, include_late=False)
    state = {r.key: (r.event_id, r.sequence) for r in read(spark, config, tables.ENTITY_STATE)}
    assert state == expected_state(stream, include_late=False)
    quarantined = Counter(r.reason for r in read(spark, config, tables.QUARANTINE))
    assert quarantined == Counter(r.reason for r in stream.records if r.cls == simulator.MALFORMED)
