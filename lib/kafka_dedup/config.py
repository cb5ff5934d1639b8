"""Typed configuration: defaults < TOML file < KAFKA_DEDUP_* environment < command-line flags."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka_dedup.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "KAFKA_DEDUP_"
DURATION_RE = re.compile(r"^\s*(\d+)\s+(millisecond|second|minute|hour|day)s?\s*$")
UNIT_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}
# the ingest keys that hold a duration, with examples for the one-line error
INGEST_DURATIONS = {
    "watermark": "'1 hour' or '30 minutes'",
    "max_future_skew": "'15 minutes' or '1 day'",
    "lock_lease": "'30 seconds' or '5 minutes'",
    "lock_wait": "'0 seconds' or '10 minutes'",
}
HOST_PORT_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class ConfigError(UserError):
    """A configuration value is invalid; the message is one line naming the key and the fix."""


@dataclass(frozen=True)
class SparkConfig:
    master: str = "local[*]"
    app_name: str = "kafka-dedup"
    shuffle_partitions: int = 4
    jars_dir: str = ""  # empty: the repo's build/jars/spark when present, else none (spark-submit)
    log_level: str = "WARN"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    topics: tuple[str, ...] = ("orders",)
    topic_pattern: str = ""
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 0  # 0: no limit
    fail_on_data_loss: bool = True
    options: dict[str, str] = field(default_factory=dict)  # extra kafka.* source options (auth)


@dataclass(frozen=True)
class StorageConfig:
    warehouse: str = "data/warehouse"
    checkpoints: str = "data/checkpoints"
    database: str = "kafka_dedup"


@dataclass(frozen=True)
class IngestConfig:
    trigger: str = "available-now"
    watermark: str = "1 hour"
    # Below the watermark delay: a record this far ahead pulls the watermark to
    # now + skew - watermark, still behind the wall clock, so on-time records stay on time.
    max_future_skew: str = "15 minutes"
    quarantine_invalid_utf8: bool = True
    lock_lease: str = "30 seconds"  # a killed run's lease frees the checkpoints this long after
    lock_wait: str = "0 seconds"  # how long a second run waits for the lease before it gives up


@dataclass(frozen=True)
class BrokerConfig:
    port: int = 9092
    data_dir: str = "data/broker"
    start_timeout_s: int = 60


@dataclass(frozen=True)
class S3Config:
    endpoint: str = ""
    path_style_access: bool = False
    region: str = ""
    dynamodb_log_store_table: str = ""  # set: use Delta's S3DynamoDBLogStore (concurrent writers)
    dynamodb_endpoint: str = ""


@dataclass(frozen=True)
class AwsConfig:
    """EMR Serverless deployment; empty values are read from the CloudFormation stack's outputs."""

    region: str = ""  # empty: the standard AWS chain (AWS_REGION, profile)
    endpoint_url: str = ""  # a local AWS emulator (tests); empty: the real AWS endpoints
    stack_name: str = "kafka-dedup"
    template: str = "infra/aws/kafka-dedup.yaml"
    parameters: dict[str, str] = field(default_factory=dict)  # CloudFormation parameters
    release_label: str = "emr-spark-8.0.0"
    python_version: str = "3.11"  # the runtime's Python: binary wheels are chosen for it
    platform: str = "manylinux_2_28_x86_64"  # runtime wheels: Amazon Linux 2023, glibc 2.34
    application_id: str = ""
    execution_role_arn: str = ""
    artifacts_uri: str = ""  # s3://bucket/prefix for the job bundle
    logs_uri: str = ""  # s3://bucket/prefix for driver and executor logs
    warehouse: str = ""  # the job runs' warehouse, e.g. s3a://bucket/warehouse
    checkpoints: str = ""
    bundle_dir: str = "build/aws"
    runtime_provided: tuple[str, ...] = ("pyspark", "py4j")  # Python packages not to bundle
    jars: tuple[str, ...] = ()  # extra local jars for the job runs (e.g. aws-msk-iam-auth)
    spark_conf: dict[str, str] = field(default_factory=dict)  # extra --conf for job runs


@dataclass(frozen=True)
class Config:
    spark: SparkConfig = field(default_factory=SparkConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    s3: S3Config = field(default_factory=S3Config)
    aws: AwsConfig = field(default_factory=AwsConfig)
    reconcile: dict[str, Any] = field(default_factory=dict)  # parsed by kafka_dedup.reconcile


SECTIONS: dict[str, Any] = typing.get_type_hints(Config)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def duration_seconds(text: str) -> float:
    """A duration in the ingest grammar ('30 seconds', '1 day') in seconds."""
    match = DURATION_RE.match(text)
    if match is None:
        raise ConfigError(f"{text!r}: expected a duration like '30 seconds' or '1 day'")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def _validate(config: Config) -> None:
    """Reject values that would only fail later inside Spark or Kafka."""
    if config.ingest.trigger != "available-now" and not DURATION_RE.match(config.ingest.trigger):
        raise ConfigError(
            f"ingest.trigger = {config.ingest.trigger!r}: expected 'available-now' or an "
            "interval like '10 seconds'"
        )
    for key, examples in INGEST_DURATIONS.items():
        value = getattr(config.ingest, key)
        if not DURATION_RE.match(value):
            raise ConfigError(f"ingest.{key} = {value!r}: expected a delay like {examples}")
    if duration_seconds(config.ingest.lock_lease) < 1:
        raise ConfigError(f"ingest.lock_lease = {config.ingest.lock_lease!r}: at least 1 second")
    for server in config.kafka.bootstrap_servers.split(","):
        if not HOST_PORT_RE.match(server.strip()):
            raise ConfigError(
                f"kafka.bootstrap_servers = {config.kafka.bootstrap_servers!r}: expected "
                "HOST:PORT[,HOST:PORT...] such as 127.0.0.1:9092"
            )
    offsets = config.kafka.starting_offsets
    if offsets not in ("earliest", "latest") and not _is_json_object(offsets):
        raise ConfigError(
            f"kafka.starting_offsets = {offsets!r}: expected earliest, latest or a JSON "
            'object like {"orders":{"0":42}}'
        )
    if config.kafka.max_offsets_per_trigger < 0:
        raise ConfigError("kafka.max_offsets_per_trigger must be >= 0 (0 means no limit)")
    if not (0 < config.broker.port < 65536):
        raise ConfigError(f"broker.port = {config.broker.port}: expected 1-65535")
    if config.spark.shuffle_partitions < 1:
        raise ConfigError("spark.shuffle_partitions must be a whole number >= 1")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", config.storage.database):
        raise ConfigError(
            f"storage.database = {config.storage.database!r}: expected an identifier like "
            "kafka_dedup"
        )


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if origin is tuple:
        return "a list of strings (or comma-separated)"
    if origin is dict:
        return "a table of key = value"
    return "a string"


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Turn a TOML, environment or flag value into the field's type, or raise ConfigError."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off"):
                return False
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if origin is dict:
            if not isinstance(value, Mapping):
                raise ValueError(value)
            return {str(k): v if isinstance(v, (dict, list)) else str(v) for k, v in value.items()}
        if tp is str or (isinstance(tp, types.UnionType) and str in typing.get_args(tp)):
            if isinstance(value, (dict, list)):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} = {value!r}: expected {_expected(tp)}") from None
    return value


def _merge_section(section: str, current: Any, values: Mapping[str, Any], origin: str) -> Any:
    if section == "reconcile":
        if not isinstance(values, Mapping):
            raise ConfigError(f"[reconcile] in {origin}: expected a table")
        return {**current, **values}
    section_type = SECTIONS[section]
    hints = typing.get_type_hints(section_type)
    updates: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown key {section}.{key} in {origin}; known keys: {known}")
        updates[key] = _coerce(f"{section}.{key}", value, hints[key])
    return dataclasses.replace(current, **updates)


def apply(config: Config, overrides: Mapping[str, Mapping[str, Any]], origin: str) -> Config:
    """Return config with {section: {key: value}} overrides applied (values coerced)."""
    changes: dict[str, Any] = {}
    for section, values in overrides.items():
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise ConfigError(f"unknown section [{section}] in {origin}; known sections: {known}")
        changes[section] = _merge_section(section, getattr(config, section), values, origin)
    return dataclasses.replace(config, **changes)


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
        if section not in SECTIONS or section == "reconcile":
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r}; expected "
                f"{ENV_PREFIX}<SECTION>__<KEY> with SECTION one of "
                + ", ".join(s.upper() for s in SECTIONS if s != "reconcile")
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
    config = Config()
    path = path or environ.get(ENV_PREFIX + "CONFIG") or None
    if path:
        config = apply(config, from_toml(path), f"config file {path}")
    config = apply(config, from_env(environ), "the environment")
    if flags:
        cleaned = {s: {k: v for k, v in kv.items() if v is not None} for s, kv in flags.items()}
        config = apply(config, cleaned, "the command line")
    _validate(config)
    return config
