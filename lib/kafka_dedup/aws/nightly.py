"""Entry point of the nightly schedule: turn the scheduled time into the reconcile job's --date.

EventBridge Scheduler can only pass its scheduled time (ISO-8601, e.g. 2026-11-26T02:30:00Z);
the run reconciles the day before it, with the jobs/reconcile.py shipped in the bundle.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import kafka_dedup
from kafka_dedup import config as config_mod
from kafka_dedup import paths
from kafka_dedup.aws.bundle import JOBS_PACKAGE_DIR
from kafka_dedup.config import ConfigError


def previous_day(scheduled_time: str) -> str:
    """'2026-11-26T02:30:00Z' -> '2026-11-25' (the day the nightly run reconciles)."""
    try:
        moment = datetime.fromisoformat(scheduled_time.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--scheduled-time {scheduled_time!r}: expected ISO-8601 like 2026-11-26T02:30:00Z"
        ) from None
    return (moment.date() - timedelta(days=1)).isoformat()


def reconcile_script() -> Path:
    """jobs/reconcile.py: from the bundle's Python archive, else from the checkout."""
    bundled = Path(kafka_dedup.__file__).resolve().parents[1] / JOBS_PACKAGE_DIR / "reconcile.py"
    return bundled if bundled.is_file() else paths.project_root() / "jobs" / "reconcile.py"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scheduled-time", required=True)
    args, rest = parser.parse_known_args(argv)
    day = previous_day(args.scheduled_time)
    warehouse = config_mod.load().storage.warehouse  # KAFKA_DEDUP_CONFIG names the job config
    script = reconcile_script()
    sys.argv = [str(script), "--date", day, "--warehouse", warehouse, *rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0
