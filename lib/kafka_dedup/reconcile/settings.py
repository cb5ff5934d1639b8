"""The `[reconcile]` settings: typed in kafka_dedup.config (config.reconcile), named here too.

`Settings` and `Source` are the config's ReconcileConfig and Source (the finding types live in
kafka_dedup.domain). What is left here is where a run's report goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka_dedup.config import Config, apply
from kafka_dedup.config.durations import describe as describe
from kafka_dedup.config.reconcile import PAYLOAD_PREFIX as PAYLOAD_PREFIX
from kafka_dedup.config.reconcile import ReconcileConfig as Settings
from kafka_dedup.config.reconcile import Source as Source
from kafka_dedup.paths import absolute

REPORTS_FOLDER = "_reports"  # under the warehouse when report_dir is not set


def report_folder(report_dir: str, warehouse: str, run_date: str) -> str:
    """Where a run's report.html and summary.json go: <report_dir or warehouse/_reports>/<date>."""
    base = absolute(report_dir or f"{warehouse.rstrip('/')}/{REPORTS_FOLDER}")
    return f"{base.rstrip('/')}/{run_date}"


def parse(raw: Mapping[str, Any]) -> Settings:
    """A raw [reconcile] table (as written in TOML) -> Settings, or a one-line ConfigError."""
    return apply(Config(), {"reconcile": raw}, "the [reconcile] table").reconcile


def parse_source(index: int, raw: Any) -> Source:
    """One raw [[reconcile.sources]] table -> Source, or a one-line ConfigError."""
    del index  # an entry is named by its name in messages
    return parse({"sources": [raw]}).sources[0]
