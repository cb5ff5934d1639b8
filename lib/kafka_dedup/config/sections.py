"""The config sections as frozen pydantic dataclasses: types, defaults and the checks on them.

pydantic dataclasses are plain dataclasses too, so `dataclasses.replace` and `asdict` keep
working (and replace validates). Values come as TOML values, environment strings or flags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict
from pydantic.dataclasses import dataclass

from kafka_dedup.config.durations import duration_seconds, is_duration
from kafka_dedup.config.errors import InvalidValueError
from kafka_dedup.config.mapping import MappingsValidator, TopicMapping

MIN_RETENTION_S = 7 * 86400
HOST_PORT_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
REGISTRY_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# a TOML number where a string is expected is taken as written (spark.conf values, ports ...)
LENIENT = ConfigDict(coerce_numbers_to_str=True)


def check(ok: Callable[[Any], object], fix: str) -> AfterValidator:
    """A check on a parsed value: when ok(value) is false, '<key> = <value>: <fix>'."""

    def run(value: Any) -> Any:
        if not ok(value):
            raise InvalidValueError(fix, value)
        return value

    return AfterValidator(run)


def _whole(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would take true for 1
        raise InvalidValueError("expected a whole number", value)
    return value


def _strings(value: Any) -> tuple[str, ...]:
    # the environment writes a list as "orders, payments"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InvalidValueError("expected a list of strings (or comma-separated)", value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def _options(value: Any) -> Any:
    # Spark and Kafka options are text: TOML's `"spark.ui.enabled" = false` is passed as written
    if not isinstance(value, Mapping):
        return value
    return {key: str(v) if isinstance(v, (bool, int, float)) else v for key, v in value.items()}


def _offsets(value: str) -> bool:
    try:
        return value in ("earliest", "latest") or isinstance(json.loads(value), dict)
    except ValueError:
        return False


Whole = Annotated[int, BeforeValidator(_whole)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
Table = Annotated[dict[str, str], BeforeValidator(_options)]
Delay = Annotated[str, check(is_duration, "expected a delay like '1 hour' or '30 minutes'")]


def at_least(minimum: int, note: str = "") -> AfterValidator:
    """A check that a whole number is >= minimum."""
    return check(lambda n: n >= minimum, f"expected a whole number >= {minimum}{note}")


@dataclass(frozen=True, config=LENIENT)
class SparkConfig:
    master: str = "local[*]"
    app_name: str = "kafka-dedup"
    shuffle_partitions: Annotated[Whole, at_least(1)] = 4
    jars_dir: str = ""  # empty: the repo's build/jars/spark when present, else none (spark-submit)
    log_level: str = "WARN"
    conf: Table = field(default_factory=dict)


@dataclass(frozen=True, config=LENIENT)
class KafkaConfig:
    bootstrap_servers: Annotated[
        str,
        check(
            lambda text: all(HOST_PORT_RE.match(part.strip()) for part in text.split(",")),
            "expected HOST:PORT[,HOST:PORT...] such as 127.0.0.1:9092",
        ),
    ] = "127.0.0.1:9092"
    topics: Strings = ("orders",)
    topic_pattern: str = ""
    starting_offsets: Annotated[
        str, check(_offsets, 'expected earliest, latest or a JSON object like {"orders":{"0":42}}')
    ] = "earliest"
    max_offsets_per_trigger: Annotated[Whole, at_least(0, " (0 means no limit)")] = 0
    fail_on_data_loss: bool = True
    options: Table = field(default_factory=dict)  # extra kafka.* source options (auth)
    # Confluent-compatible schema registry for format = "avro" mappings (user:secret@ for
    # basic auth); its writer schemas are fetched by the driver only, once per schema id.
    schema_registry_url: Annotated[
        str,
        check(
            lambda text: not text or REGISTRY_URL_RE.match(text),
            "expected an http(s) URL such as http://127.0.0.1:8081 (or empty for none)",
        ),
    ] = ""


@dataclass(frozen=True, config=LENIENT)
class StorageConfig:
    warehouse: str = "data/warehouse"
    checkpoints: str = "data/checkpoints"
    database: Annotated[
        str, check(IDENTIFIER_RE.match, "expected an identifier like kafka_dedup")
    ] = "kafka_dedup"


@dataclass(frozen=True, config=LENIENT)
class IngestConfig:
    trigger: Annotated[
        str,
        check(
            lambda text: text == "available-now" or is_duration(text),
            "expected 'available-now' or an interval like '10 seconds'",
        ),
    ] = "available-now"
    watermark: Delay = "1 hour"
    # Below the watermark delay: a record this far ahead pulls the watermark to
    # now + skew - watermark, still behind the wall clock, so on-time records stay on time.
    max_future_skew: Delay = "15 minutes"
    quarantine_invalid_utf8: bool = True
    # a killed run's lease frees the checkpoints this long after
    lock_lease: Annotated[
        Delay, check(lambda text: duration_seconds(text) >= 1, "at least 1 second")
    ] = "30 seconds"
    lock_wait: Delay = "0 seconds"  # how long a second run waits for the lease before it gives up
    # [[ingest.mappings]]: topics whose records are not the JSON envelope (config.mapping)
    mappings: Annotated[tuple[TopicMapping, ...], MappingsValidator] = ()


def _table_names(value: tuple[str, ...]) -> tuple[str, ...]:
    from kafka_dedup.tables import ALL_TABLES  # Spark's types: imported only when tables are set

    unknown = [name for name in value if name not in ALL_TABLES]
    if unknown:
        raise InvalidValueError(f"unknown table {unknown[0]!r}; expected some of "
                                + ", ".join(ALL_TABLES), value)  # fmt: skip
    return value


@dataclass(frozen=True, config=LENIENT)
class MaintainConfig:
    """`kafka-dedup maintain`: compaction, and VACUUM that keeps the time-travel window."""

    # Forensics reads versions this old (`forensics as-of`): VACUUM keeps every file they need,
    # and the tables' log and deleted-file retentions are raised to it, never lowered. Delta
    # refuses a VACUUM shorter than delta.deletedFileRetentionDuration (7 days by default).
    retention: Annotated[
        Delay,
        check(
            lambda text: duration_seconds(text) >= MIN_RETENTION_S,
            "at least '7 days' (Delta's default delta.deletedFileRetentionDuration)",
        ),
    ] = "7 days"
    max_retries: Annotated[Whole, at_least(0)] = 5  # per table, on a concurrent commit
    retry_backoff: Delay = "2 seconds"  # doubled after each conflict
    tables: Annotated[Strings, AfterValidator(_table_names)] = ()  # empty: every table present


@dataclass(frozen=True, config=LENIENT)
class BrokerConfig:
    port: Annotated[Whole, check(lambda port: 0 < port < 65536, "expected 1-65535")] = 9092
    data_dir: str = "data/broker"
    start_timeout_s: Whole = 60


@dataclass(frozen=True, config=LENIENT)
class S3Config:
    endpoint: str = ""
    path_style_access: bool = False
    region: str = ""
    dynamodb_log_store_table: str = ""  # set: use Delta's S3DynamoDBLogStore (concurrent writers)
    dynamodb_endpoint: str = ""


@dataclass(frozen=True, config=LENIENT)
class AwsConfig:
    """EMR Serverless deployment; empty values are read from the CloudFormation stack's outputs."""

    region: str = ""  # empty: the standard AWS chain (AWS_REGION, profile)
    endpoint_url: str = ""  # a local AWS emulator (tests); empty: the real AWS endpoints
    stack_name: str = "kafka-dedup"
    template: str = "infra/aws/kafka-dedup.yaml"
    parameters: Table = field(default_factory=dict)  # CloudFormation parameters
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
    runtime_provided: Strings = ("pyspark", "py4j")  # Python packages not to bundle
    jars: Strings = ()  # extra local jars for the job runs (e.g. aws-msk-iam-auth)
    spark_conf: Table = field(default_factory=dict)  # extra --conf for job runs
