"""One ingest run per checkpoint location, with real `kafka-dedup ingest` processes.

A second run on the same checkpoints exits 4 at once with one line naming the holder and
writes nothing; a SIGKILLed holder does not block the next run; the tables end exact.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.chaos.process import IngestTarget, batches, kill_group, start_ingest
from kafka_dedup.config import Config
from kafka_dedup.ingest.lock import EXIT_LOCKED
from kafka_dedup.kafka import publish, simulator
from tests.integration.ingest_helpers import ingest_config, ingest_target, offsets_of

TOPIC = "orders-lock"
WAIT_S = 600  # a JVM start and an available-now run; minutes on a loaded 2-core machine
INTERVAL = ["--max-offsets-per-trigger", "30", "--watermark", "12 hours"]


def wait_for_commit(target: IngestTarget, after: int, process) -> int:  # noqa: ANN001
    """Wait until the deliveries query committed a batch beyond `after`; its id."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "ingest exited early"
        done = batches(target.checkpoints, "deliveries", "commits")
        if done > after:
            return done
        time.sleep(0.2)
    raise AssertionError(f"no deliveries commit within {WAIT_S} s")


def refused_line(target: IngestTarget, log: Path, holder_pid: int) -> str:
    """Run a second ingest (own warehouse) and return its one line; it must write nothing."""
    elsewhere = log.parent / f"{log.stem}-warehouse"
    started = time.monotonic()
    second = start_ingest(target, log, "available-now", warehouse=elsewhere)
    try:
        code = second.wait(timeout=60)
    finally:
        kill_group(second)
    assert code == EXIT_LOCKED, log.read_text()[-3000:]
    assert time.monotonic() - started < 30  # refused before any Spark session started
    assert not elsewhere.exists()  # no table created
    lines = log.read_text().splitlines()
    assert len(lines) == 1, lines
    assert f"(pid {holder_pid} on " in lines[0]
    return lines[0]


def test_a_second_run_is_refused_and_a_killed_holder_does_not_block(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    publish.ensure_topic(kafka_bootstrap, TOPIC, partitions=3)
    stream = simulator.generate(120, seed=7, mix=simulator.Mix(late_duplicate=0, late_unique=0))
    coordinates = publish.publish(stream, kafka_bootstrap, TOPIC, (simulator.MAIN,))
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, TOPIC)
    target = ingest_target(config, TOPIC)

    # 1. a run holds the checkpoints; a second one is refused with one line
    first = start_ingest(target, tmp_path / "first.log", "1 second", *INTERVAL)
    try:
        wait_for_commit(target, -1, first)
        line = refused_line(target, tmp_path / "second.log", first.pid)
        assert line.startswith(
            f"kafka-dedup ingest: error: checkpoints {target.checkpoints} are held by run "
        )
        assert " since 20" in line and f"exit {EXIT_LOCKED}" in line
    finally:
        kill_group(first)  # 2. the holder dies without releasing anything

    # 3. the next run proceeds at once, and holds the lock in its turn
    done = batches(target.checkpoints, "deliveries", "commits")
    third = start_ingest(target, tmp_path / "third.log", "1 second", *INTERVAL)
    try:
        wait_for_commit(target, done, third)
        refused_line(target, tmp_path / "fourth.log", third.pid)
    finally:
        kill_group(third)

    # 4. a final run catches up; every offset is in deliveries exactly once
    final = start_ingest(target, tmp_path / "final.log", "available-now")
    assert final.wait(timeout=WAIT_S) == 0, (tmp_path / "final.log").read_text()[-3000:]
    offsets = offsets_of(spark, config, tables.DELIVERIES)
    assert set(offsets.values()) == {1}
    assert set(offsets) == set(coordinates.values())
