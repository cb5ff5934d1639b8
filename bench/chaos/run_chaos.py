"""`make chaos`: SIGKILL ingest 20+ times (mostly mid-batch) and the broker 3+ times under a
continuous seeded stream, then check every table against the manifest exactly.

Prints the faults and the rows checked as a table and as JSON, and writes results.json and
results.md here with the date, commit, machine and load average. Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kafka_dedup import config as config_mod
from kafka_dedup import log
from kafka_dedup.chaos import driver
from kafka_dedup.session import build_session

HERE = Path(__file__).parent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402


def table(report: dict[str, Any]) -> list[str]:
    """The report as a Markdown table: faults injected, then rows checked."""
    faults = {k: v for k, v in report["faults"].items() if k != "kill_times_s"}
    rows = [("fault: " + k, v) for k, v in faults.items()]
    rows += [("rows checked: " + k, v) for k, v in report["rows_checked"].items()]
    rows += [("failures", len(report["failures"])), ("duration (s)", report["duration_s"])]
    return ["| measure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = driver.Plan()
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--broker-restarts", type=int, default=defaults.broker_restarts)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    log.setup()  # a line per fault on stderr while the run goes on
    plan = driver.Plan(
        events=args.events,
        seed=args.seed,
        kills=args.kills,
        broker_restarts=args.broker_restarts,
    )
    config = config_mod.load(
        environ={},
        flags={"spark": {"master": "local[2]", "shuffle_partitions": 2,
                         "conf": {"spark.ui.enabled": "false"}}},
    )  # fmt: skip
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    code_commit = commit()  # the code that runs, whatever changes while it runs
    load_before = [round(x, 2) for x in os.getloadavg()]
    spark = build_session(config)
    try:
        with tempfile.TemporaryDirectory(prefix="kafka-dedup-chaos-") as root:
            report = driver.run(plan, Path(root), spark)
    finally:
        spark.stop()
    report = {
        "when": when,
        "commit": code_commit,
        "machine": machine(),
        "load_average_1_5_15": {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        **report,
    }
    lines = table(report)
    print("\n".join(lines))
    print(json.dumps(report, indent=2))
    (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    hw, load = report["machine"], report["load_average_1_5_15"]
    header = (
        f"Run {when} at commit {report['commit']} on {hw['cpu']}, {hw['cores']} cores, Python "
        f"{hw['python']}; load average (1/5/15 min) {load['before']} before, {load['after']} "
        f"after. Written by `make chaos` (bench/chaos/run_chaos.py)."
    )
    failures = [f"- {failure}" for failure in report["failures"]] or ["none"]
    (HERE / "results.md").write_text(
        "\n".join(["# Chaos run", "", header, "", *lines, "", "Failures:", *failures]) + "\n"
    )
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
