"""The chaos run: a seeded stream produced continuously, ingest SIGKILLed again and again,
the broker SIGKILLed and restarted, then one available-now run and an exact table check.

Most kills land mid-batch: after the run committed a batch, while the next one is planned in
the checkpoint's offsets/ log but not yet in commits/. Shared by `make chaos` and the short
version in the test suite.
"""

from __future__ import annotations

import math
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import log
from kafka_dedup.chaos.check import check_tables
from kafka_dedup.chaos.process import IngestTarget, in_flight, kill_group, planned, start_ingest
from kafka_dedup.kafka import admin, broker, publish, simulator
from kafka_dedup.warehouse import Warehouse

WAIT_S = 900.0  # generous: on a busy 2-core machine a Spark start alone can take minutes
RANDOM_KILL_S = (3.0, 90.0)  # from start-up to well inside the batches
CHUNKS_PER_RUN = 10
CHUNK_PAUSE_S = 3.0
POLL_S = 0.05
WATERMARK = "12 hours"  # wider than the stream's 6 h span: the check is about crashes
logger = log.get(__name__)


@dataclass(frozen=True)
class Plan:
    """What to inject; the seed fixes the stream and every random choice."""

    events: int = 3000
    seed: int = 20261201
    kills: int = 20
    broker_restarts: int = 3
    mid_batch_share: float = 0.8
    trigger: str = "2 seconds"
    max_offsets_per_trigger: int = 150
    partitions: int = 3


@dataclass
class Faults:
    ingest_kills: int = 0
    kills_mid_batch: int = 0
    kills_between_batches: int = 0
    broker_kills: int = 0
    broker_restarts: int = 0
    ingest_runs: int = 0
    kill_times_s: list[float] = field(default_factory=list)


class ChaosError(AssertionError):
    """An ingest run died on its own, or did not move, under the injected faults."""


class Feed(threading.Thread):
    """Publishes the stream in small chunks, a share per ingest run, recording coordinates.

    Tying the shares to the runs keeps records arriving while each run lives, however slow
    the machine is: every run has new batches to plan, so it can be killed inside one.
    """

    def __init__(self, stream: simulator.Stream, bootstrap: str, topic: str, plan: Plan) -> None:
        super().__init__(daemon=True)
        self.stream, self.bootstrap, self.topic = stream, bootstrap, topic
        self.share = math.ceil(len(stream.records) / plan.kills)
        self.chunk = max(1, self.share // CHUNKS_PER_RUN)
        self.allowed = 0
        self.more = threading.Condition()
        self.coordinates: publish.Coordinates = {}
        self.error: str | None = None

    def release(self, runs: int | None = None) -> None:
        """Let the shares of this many runs out (None: the whole stream, without pauses)."""
        with self.more:
            total = len(self.stream.records)
            self.allowed = total if runs is None else min(total, runs * self.share)
            self.more.notify()

    def run(self) -> None:
        self.sent_up_to, total = 0, len(self.stream.records)
        while self.sent_up_to < total:
            sent_up_to = self.sent_up_to
            with self.more:
                self.more.wait_for(lambda: self.allowed > self.sent_up_to)
                upper = min(sent_up_to + self.chunk, self.allowed)
                rushed = self.allowed == total
            try:
                self.coordinates.update(
                    publish.publish(
                        self.stream,
                        self.bootstrap,
                        self.topic,
                        (simulator.MAIN,),
                        indices=range(sent_up_to, upper),
                    )  # fmt: skip
                )
            except Exception as exc:  # noqa: BLE001 - reported by the check, never hidden
                self.error = str(exc)
                return
            self.sent_up_to = upper
            if not rushed:
                time.sleep(CHUNK_PAUSE_S)


def _wait(process: subprocess.Popen[bytes], log: Path, until: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not until():
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise ChaosError(f"ingest exited {process.returncode} {what}:\n{tail}")
        if time.monotonic() > deadline:
            raise ChaosError(f"ingest made no progress {what} within {WAIT_S:.0f} s")
        time.sleep(POLL_S)


def restart_broker(port: int, data_dir: Path, outage_s: float) -> None:
    """SIGKILL the broker JVM, leave it down outage_s, start it again on the same storage."""
    if not broker.kill(data_dir):
        raise ChaosError(f"no broker running in {data_dir} to kill")
    time.sleep(outage_s)
    broker.start(port, data_dir, timeout_s=120)


def _one_cycle(
    target: IngestTarget,
    log: Path,
    plan: Plan,
    rng: random.Random,
    faults: Faults,
    restart: Callable[[float], None],
) -> None:
    """Start ingest, maybe restart the broker under it, SIGKILL it (mostly mid-batch)."""
    checkpoints = target.checkpoints
    before = planned(checkpoints)
    process = start_ingest(
        target, log, plan.trigger,
        "--max-offsets-per-trigger", str(plan.max_offsets_per_trigger),
        "--watermark", WATERMARK,
    )  # fmt: skip
    faults.ingest_runs += 1
    started = time.monotonic()
    moved = lambda: in_flight(checkpoints, before)  # noqa: E731
    broker_too = faults.ingest_runs in _broker_cycles(plan)
    try:
        if broker_too:
            _wait(process, log, moved, "before the broker kill")
            restart(rng.uniform(1, 5))
            faults.broker_kills += 1
            faults.broker_restarts += 1
            before = planned(checkpoints)  # the run must go on planning batches after it
        if rng.random() < plan.mid_batch_share:
            _wait(process, log, moved, "to a batch of its own")
            time.sleep(rng.uniform(0, 0.3))
        else:
            deadline = time.monotonic() + rng.uniform(*RANDOM_KILL_S)
            _wait(process, log, lambda: time.monotonic() > deadline, "before a random kill")
        mid_batch = in_flight(checkpoints, before)
    finally:
        kill_group(process)
    faults.ingest_kills += 1
    faults.kills_mid_batch += mid_batch
    faults.kills_between_batches += not mid_batch
    faults.kill_times_s.append(round(time.monotonic() - started, 1))
    where = "mid-batch" if mid_batch else "between batches"
    broker_note = "; the broker was SIGKILLed and restarted under it" if broker_too else ""
    logger.info(
        "ingest run %d of %d SIGKILLed %s after %.1f s%s",
        faults.ingest_runs, plan.kills, where, faults.kill_times_s[-1], broker_note,
    )  # fmt: skip


def _broker_cycles(plan: Plan) -> set[int]:
    """Which ingest runs (1-based) see a broker restart: spread evenly over the kills."""
    step = plan.kills / max(plan.broker_restarts, 1)
    return {1 + int(step * n + step / 2) for n in range(plan.broker_restarts)}


def end_offsets(bootstrap: str, topic: str) -> dict[tuple[str, int], int]:
    """The log end offset of each partition (what Kafka holds, from offset 0)."""
    log = admin.topic_logs(bootstrap, [topic])[topic]
    return {(topic, partition): end for partition, (_, end) in log.offsets.items()}


def run(plan: Plan, root: Path, spark: SparkSession) -> dict[str, Any]:
    """Inject the plan's faults under a continuous stream and check the tables; the report."""
    rng = random.Random(plan.seed)
    began = time.monotonic()
    broker_dir, port = root / "broker", broker.free_port()
    broker.start(port, broker_dir, timeout_s=120)
    try:
        target = IngestTarget(
            f"{broker.HOST}:{port}", "orders-chaos", root / "warehouse", root / "checkpoints",
            "chaos_" + str(plan.seed),
        )  # fmt: skip
        publish.ensure_topic(target.bootstrap_servers, target.topic, plan.partitions)
        mix = simulator.Mix(late_duplicate=0, late_unique=0)
        stream = simulator.generate(plan.events, plan.seed, mix)
        feed = Feed(stream, target.bootstrap_servers, target.topic, plan)
        feed.start()
        faults = Faults()
        log = root / "ingest.log"
        for run_number in range(1, plan.kills + 1):
            feed.release(run_number)
            _one_cycle(
                target, log, plan, rng, faults, lambda s: restart_broker(port, broker_dir, s)
            )
        feed.release()
        feed.join()
        logger.info("the last run: available-now over everything produced")
        final = start_ingest(target, log, "available-now", "--watermark", WATERMARK)
        if final.wait(timeout=WAIT_S) != 0:
            raise ChaosError(f"the final run exited {final.returncode}; see {log}")
        offsets = end_offsets(target.bootstrap_servers, target.topic)
        warehouse = Warehouse(str(target.warehouse), target.database, spark)
        logger.info("checking every table against the manifest")
        checked, failures = check_tables(warehouse, stream, feed.coordinates, offsets)
        if feed.error:
            failures.append(f"producer: {feed.error}")
    finally:
        broker.stop(broker_dir)
    return {
        "plan": asdict(plan),
        "faults": asdict(faults),
        "rows_checked": checked,
        "failures": failures,
        "duration_s": round(time.monotonic() - began, 1),
    }
