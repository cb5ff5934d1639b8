"""Typed configuration: defaults < TOML file < KAFKA_DEDUP_* environment < command-line flags.

Each layer is a {section: {key: value}} table; keys are checked per layer (so an unknown key
names where it came from), then each section is validated once by its pydantic dataclass.
pydantic-settings is not used: its layers merge before validation, so an unknown key could
not name its layer, and its environment source decodes lists as JSON, not 'a, b'.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.dataclasses import dataclass

from kafka_dedup.config.durations import (
    DURATION_RE,
    describe,
    duration_seconds,
    is_duration,
    parse_duration,
)
from kafka_dedup.config.errors import ConfigError, one_line, unknown_key
from kafka_dedup.config.reconcile import ReconcileConfig, Source, to_table
from kafka_dedup.config.sections import (
    AwsConfig,
    BrokerConfig,
    IngestConfig,
    KafkaConfig,
    MaintainConfig,
    S3Config,
    SparkConfig,
    StorageConfig,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "DURATION_RE",
    "ENV_PREFIX",
    "AwsConfig",
    "BrokerConfig",
    "Config",
    "ConfigError",
    "IngestConfig",
    "KafkaConfig",
    "MaintainConfig",
    "ReconcileConfig",
    "S3Config",
    "Source",
    "SparkConfig",
    "StorageConfig",
    "apply",
    "describe",
    "duration_seconds",
    "from_env",
    "from_toml",
    "is_duration",
    "load",
    "parse_duration",
    "to_table",
    "tomllib",
]

ENV_PREFIX = "KAFKA_DEDUP_"


@dataclass(frozen=True)
class Config:
    spark: SparkConfig = field(default_factory=SparkConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    s3: S3Config = field(default_factory=S3Config)
    aws: AwsConfig = field(default_factory=AwsConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    maintain: MaintainConfig = field(default_factory=MaintainConfig)


DEFAULTS = Config()
SECTIONS = tuple(spec.name for spec in dataclasses.fields(Config))
# [reconcile] holds lists of tables, which an environment variable cannot write
ENV_SECTIONS = tuple(section for section in SECTIONS if section != "reconcile")


def _check_keys(overrides: Mapping[str, Any], origin: str) -> None:
    for section, values in overrides.items():
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise ConfigError(f"unknown section [{section}] in {origin}; known sections: {known}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] in {origin}: expected a table")
        keys = [spec.name for spec in dataclasses.fields(getattr(DEFAULTS, section))]
        unknown = unknown_key(keys, values)
        if unknown is not None:
            known = ", ".join(sorted(keys))
            raise ConfigError(f"unknown key {section}.{unknown} in {origin}; known keys: {known}")


def _replace(config: Config, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
    """config with each section's keys replaced and validated (one-line ConfigError)."""
    changes = {}
    for section, values in overrides.items():
        try:
            changes[section] = dataclasses.replace(getattr(config, section), **values)
        except ValidationError as exc:
            raise one_line(exc, section, values) from None
    return dataclasses.replace(config, **changes)


def apply(config: Config, overrides: Mapping[str, Mapping[str, Any]], origin: str) -> Config:
    """Return config with {section: {key: value}} overrides applied and validated."""
    _check_keys(overrides, origin)
    return _replace(config, overrides)


def from_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file, with one-line errors for a missing or malformed file."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} not found; pass an existing file to --config")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None


def from_env(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Collect KAFKA_DEDUP_<SECTION>__<KEY> variables into {section: {key: value}}."""
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in ENV_SECTIONS:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r}; expected "
                f"{ENV_PREFIX}<SECTION>__<KEY> with SECTION one of "
                + ", ".join(s.upper() for s in ENV_SECTIONS)
            )
        overrides.setdefault(section, {})[key] = value
    return overrides


def load(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Build the validated config: defaults < TOML file < environment < flags."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "CONFIG") or None
    layers = [(f"config file {path}", from_toml(path))] if path else []
    layers.append(("the environment", from_env(environ)))
    if flags:
        cleaned = {s: {k: v for k, v in kv.items() if v is not None} for s, kv in flags.items()}
        layers.append(("the command line", cleaned))
    merged: dict[str, dict[str, Any]] = {}
    for origin, overrides in layers:
        _check_keys(overrides, origin)
        for section, values in overrides.items():
            merged.setdefault(section, {}).update(values)
    return _replace(DEFAULTS, merged)
