"""Paths: absolute locations of tables and reports, the repo root, the Maven-resolved jars."""

from __future__ import annotations

import os
from pathlib import Path

JARS_ENV = "KAFKA_DEDUP_JARS_DIR"


def is_remote(path: str) -> bool:
    """True for object-store URIs (s3a://, s3://) that must not be resolved against the cwd."""
    return "://" in path


def absolute(path: str) -> str:
    """Absolute local path or the URI unchanged, so Spark and Delta agree on table locations."""
    return path if is_remote(path) else str(Path(path).expanduser().resolve())


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
