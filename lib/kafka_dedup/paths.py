"""Where the project's own files live: the repo root and the Maven-resolved jar folders."""

from __future__ import annotations

import os
from pathlib import Path

JARS_ENV = "KAFKA_DEDUP_JARS_DIR"


def project_root() -> Path:
    """The checkout holding lib/kafka_dedup (an editable install), else the working directory."""
    here = Path(__file__).resolve()
    root = here.parents[2]
    if (root / "infra" / "jvm" / "pom.xml").is_file():
        return root
    return Path.cwd()


def jars_dir() -> Path:
    """Root of the jar folders `make jars` fills (override with KAFKA_DEDUP_JARS_DIR)."""
    override = os.environ.get(JARS_ENV)
    return Path(override) if override else project_root() / "build" / "jars"


def spark_jars_dir() -> Path:
    return jars_dir() / "spark"


def broker_jars_dir() -> Path:
    return jars_dir() / "broker"
