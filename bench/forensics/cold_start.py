"""Cold start of `kafka-dedup forensics summary` on DuckDB, on a demo-sized warehouse.

The warehouse is written (once, with Spark) by bench_forensics.generate at the size of
`make demo` (3,000 unique events, 300 duplicate copies, 30 malformed records); then each run
is a new `kafka-dedup` process (Python start, imports, sandboxed DuckDB engine, query, JSON).
Prints wall and CPU time of each run, the medians, the date, the commit, the machine's core
count and its load (wall time on a shared machine grows with the load; CPU time much less).

    .venv/bin/python bench/forensics/cold_start.py [--warehouse DIR] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_forensics as bench  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit  # noqa: E402

DEFAULT_WAREHOUSE = Path("build/bench/forensics-demo-warehouse")
DEMO_EVENTS, DEMO_KEYS, DEMO_MALFORMED = 3_000, 1_000, 30  # `make demo`: 3,000 events
LIMIT_S = 1.0


def ensure_warehouse(warehouse: Path) -> None:
    if (warehouse / "deliveries" / "_delta_log").is_dir():
        return
    from kafka_dedup import config as config_mod
    from kafka_dedup.session import build_session

    bench.UNIQUE, bench.KEYS, bench.MALFORMED = DEMO_EVENTS, DEMO_KEYS, DEMO_MALFORMED
    config = config_mod.load(
        environ={},
        flags={
            "spark": {"master": "local[2]", "shuffle_partitions": 2},
            "storage": {"warehouse": str(warehouse), "checkpoints": str(warehouse) + "-ckpt"},
        },
    )
    spark = build_session(config)
    try:
        bench.generate(spark, warehouse)
    finally:
        spark.stop()


def cpu_seconds() -> float:
    """User + system CPU time of finished child processes: what the load average cannot inflate
    much, unlike wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one new `kafka-dedup` process."""
    cpu_before = cpu_seconds()
    wall = bench.timed(command)[0]
    return wall, cpu_seconds() - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    ensure_warehouse(warehouse)
    command = ["forensics", "summary", "--engine", "duckdb", "--warehouse", str(warehouse)]
    runs = [cold_run([*command, "--format", "json"]) for _ in range(args.runs)]
    median = statistics.median(wall for wall, _ in runs)
    cpu_median = statistics.median(cpu for _, cpu in runs)
    print(f"kafka-dedup {' '.join(command[:4])}: demo-sized warehouse {warehouse}")
    print(f"wall (s): {[round(wall, 3) for wall, _ in runs]}")
    print(f"cpu  (s): {[round(cpu, 3) for _, cpu in runs]}")
    print(f"median: {median:.3f} s wall, {cpu_median:.3f} s cpu (user + system)")
    print(f"limit {LIMIT_S} s: {'ok' if median < LIMIT_S else 'OVER'} (wall)")
    print(
        f"date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    return 0 if median < LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
