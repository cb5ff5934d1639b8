"""Cold start of `kafka-dedup forensics summary` on DuckDB, on a demo-sized warehouse.

The warehouse is written (once, with Spark) by bench_forensics.generate at the size of
`make demo` (3,000 unique events, 300 duplicate copies, 30 malformed records); then each run
is a new `kafka-dedup` process (Python start, imports, sandboxed DuckDB engine, query, JSON).
Prints the runs, the median, the date, the commit and the machine's core count.

    .venv/bin/python bench/forensics/cold_start.py [--warehouse DIR] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_forensics as bench  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    ensure_warehouse(warehouse)
    command = ["forensics", "summary", "--engine", "duckdb", "--warehouse", str(warehouse)]
    runs = [bench.timed([*command, "--format", "json"])[0] for _ in range(args.runs)]
    median = statistics.median(runs)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"kafka-dedup {' '.join(command[:4])}: demo-sized warehouse {warehouse}")
    print(f"runs (s): {[round(r, 3) for r in runs]}")
    print(f"median: {median:.3f} s (limit {LIMIT_S} s: {'ok' if median < LIMIT_S else 'OVER'})")
    print(
        f"date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    return 0 if median < LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
