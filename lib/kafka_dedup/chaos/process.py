"""`kafka-dedup ingest` as a child process in its own group, and what its checkpoints show."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka_dedup.ingest.streams import DELIVERIES_QUERY, EVENTS_QUERY

QUERIES = (DELIVERIES_QUERY, EVENTS_QUERY)
SCRATCH: dict[int, Path] = {}  # pid -> the Spark scratch folder kill_group removes


@dataclass(frozen=True)
class IngestTarget:
    """Where an ingest run reads and writes (one topic, one warehouse, one checkpoint root)."""

    bootstrap_servers: str
    topic: str
    warehouse: Path
    checkpoints: Path
    database: str


def start_ingest(
    target: IngestTarget,
    log: Path,
    trigger: str,
    *extra: str,
    warehouse: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start the CLI in a new session (process group), so a SIGKILL takes its JVM too."""
    # A SIGKILLed JVM never runs the hook that deletes its scratch folder (a copy of every
    # jar, about 570 MB): each process gets its own, beside the log, and kill_group removes it.
    scratch = log.parent / "spark-scratch" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    env = {
        **os.environ,
        "SPARK_LOCAL_DIRS": str(scratch),
        "KAFKA_DEDUP_SPARK__MASTER": "local[2]",
        "KAFKA_DEDUP_SPARK__SHUFFLE_PARTITIONS": "2",
        "KAFKA_DEDUP_STORAGE__DATABASE": target.database,
    }
    command = [
        sys.executable, "-m", "kafka_dedup.cli", "ingest",
        "--bootstrap-servers", target.bootstrap_servers,
        "--topics", target.topic,
        "--warehouse", str(warehouse or target.warehouse),
        "--checkpoints", str(target.checkpoints),
        "--trigger", trigger,
        *extra,
    ]  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    SCRATCH[process.pid] = scratch
    return process


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group (Python driver and Spark JVM) and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    scratch = SCRATCH.pop(process.pid, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def batches(checkpoints: Path, query: str, folder: str) -> int:
    """Highest batch id written to the query's offsets/ or commits/ log, -1 when none."""
    path = checkpoints / query / folder
    with contextlib.suppress(FileNotFoundError):
        ids = [int(p.name) for p in path.iterdir() if p.name.isdigit()]
        return max(ids, default=-1)
    return -1


def planned(checkpoints: Path) -> dict[str, int]:
    """The last batch id each query planned (its offsets/ log)."""
    return {query: batches(checkpoints, query, "offsets") for query in QUERIES}


def in_flight(checkpoints: Path, planned_before: dict[str, int]) -> bool:
    """True while a batch planned after `planned_before` (offsets/N) is not committed yet.

    A batch left uncommitted by a killed run is re-run from the same offsets/N entry; only a
    new entry means the running process is inside a batch of its own.
    """
    return any(
        batches(checkpoints, query, "offsets")
        > max(planned_before[query], batches(checkpoints, query, "commits"))
        for query in QUERIES
    )
