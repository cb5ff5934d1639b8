"""The config sections as frozen pydantic dataclasses: types, defaults and the checks on them.

pydantic dataclasses are plain dataclasses too, so `dataclasses.replace` and `asdict` keep
working (and replace validates). Values come as TOML values, environment strings or flags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass

from kafka_dedup.config.durations import duration_seconds, is_duration
from kafka_dedup.config.errors import InvalidValueError

HOST_PORT_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# the ingest keys that hold a duration, with examples for the one-line error
INGEST_DURATIONS = {
    "watermark": "'1 hour' or '30 minutes'",
    "max_future_skew": "'15 minutes' or '1 day'",
    "lock_lease": "'30 seconds' or '5 minutes'",
    "lock_wait": "'0 seconds' or '10 minutes'",
}


def _text(value: Any) -> str:
    # a TOML number or boolean where a string is expected is taken as written
    if isinstance(value, (Mapping, list, tuple)):
        raise InvalidValueError("expected a string", value)
    return str(value)


def _whole(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic takes true for 1
        raise InvalidValueError("expected a whole number", value)
    return value


def at_least(minimum: int, note: str = "") -> AfterValidator:
    """A check that a whole number is >= minimum."""

    def check(value: int) -> int:
        if value < minimum:
            raise InvalidValueError(f"expected a whole number >= {minimum}{note}", value)
        return value

    return AfterValidator(check)


def _strings(value: Any) -> tuple[str, ...]:
    # the environment writes a list as "orders, payments"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InvalidValueError("expected a list of strings (or comma-separated)", value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def _table(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("expected a table of key = value", value)
    table = {}
    for key, item in value.items():
        if isinstance(item, (Mapping, list, tuple)):
            raise InvalidValueError("expected a string", item, key=str(key))
        table[str(key)] = str(item)
    return table


Text = Annotated[str, BeforeValidator(_text)]
Whole = Annotated[int, BeforeValidator(_whole)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
Table = Annotated[dict[str, str], BeforeValidator(_table)]


@dataclass(frozen=True)
class SparkConfig:
    master: Text = "local[*]"
    app_name: Text = "kafka-dedup"
    shuffle_partitions: Annotated[Whole, at_least(1)] = 4
    jars_dir: Text = ""  # empty: the repo's build/jars/spark when present, else none (spark-submit)
    log_level: Text = "WARN"
    conf: Table = field(default_factory=dict)


def _host_ports(value: str) -> str:
    if not all(HOST_PORT_RE.match(server.strip()) for server in value.split(",")):
        raise InvalidValueError("expected HOST:PORT[,HOST:PORT...] such as 127.0.0.1:9092", value)
    return value


def _starting_offsets(value: str) -> str:
    try:
        per_partition = isinstance(json.loads(value), dict)
    except ValueError:
        per_partition = False
    if value not in ("earliest", "latest") and not per_partition:
        raise InvalidValueError(
            'expected earliest, latest or a JSON object like {"orders":{"0":42}}', value
        )
    return value


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: Annotated[Text, AfterValidator(_host_ports)] = "127.0.0.1:9092"
    topics: Strings = ("orders",)
    topic_pattern: Text = ""
    starting_offsets: Annotated[Text, AfterValidator(_starting_offsets)] = "earliest"
    max_offsets_per_trigger: Annotated[Whole, at_least(0, " (0 means no limit)")] = 0
    fail_on_data_loss: bool = True
    options: Table = field(default_factory=dict)  # extra kafka.* source options (auth)


@dataclass(frozen=True)
class StorageConfig:
    warehouse: Text = "data/warehouse"
    checkpoints: Text = "data/checkpoints"
    database: Text = "kafka_dedup"

    @field_validator("database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER_RE.match(value):
            raise InvalidValueError("expected an identifier like kafka_dedup", value)
        return value


@dataclass(frozen=True)
class IngestConfig:
    trigger: Text = "available-now"
    watermark: Text = "1 hour"
    # Below the watermark delay: a record this far ahead pulls the watermark to
    # now + skew - watermark, still behind the wall clock, so on-time records stay on time.
    max_future_skew: Text = "15 minutes"
    quarantine_invalid_utf8: bool = True
    lock_lease: Text = "30 seconds"  # a killed run's lease frees the checkpoints this long after
    lock_wait: Text = "0 seconds"  # how long a second run waits for the lease before it gives up

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str) -> str:
        if value != "available-now" and not is_duration(value):
            raise InvalidValueError(
                "expected 'available-now' or an interval like '10 seconds'", value
            )
        return value

    @field_validator(*INGEST_DURATIONS)
    @classmethod
    def _delay(cls, value: str, info: ValidationInfo) -> str:
        if not is_duration(value):
            raise InvalidValueError(
                f"expected a delay like {INGEST_DURATIONS[str(info.field_name)]}", value
            )
        if info.field_name == "lock_lease" and duration_seconds(value) < 1:
            raise InvalidValueError("at least 1 second", value)
        return value


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise InvalidValueError("expected 1-65535", value)
    return value


@dataclass(frozen=True)
class BrokerConfig:
    port: Annotated[Whole, AfterValidator(_port)] = 9092
    data_dir: Text = "data/broker"
    start_timeout_s: Whole = 60


@dataclass(frozen=True)
class S3Config:
    endpoint: Text = ""
    path_style_access: bool = False
    region: Text = ""
    dynamodb_log_store_table: Text = ""  # set: use Delta's S3DynamoDBLogStore (concurrent writers)
    dynamodb_endpoint: Text = ""


@dataclass(frozen=True)
class AwsConfig:
    """EMR Serverless deployment; empty values are read from the CloudFormation stack's outputs."""

    region: Text = ""  # empty: the standard AWS chain (AWS_REGION, profile)
    endpoint_url: Text = ""  # a local AWS emulator (tests); empty: the real AWS endpoints
    stack_name: Text = "kafka-dedup"
    template: Text = "infra/aws/kafka-dedup.yaml"
    parameters: Table = field(default_factory=dict)  # CloudFormation parameters
    release_label: Text = "emr-spark-8.0.0"
    python_version: Text = "3.11"  # the runtime's Python: binary wheels are chosen for it
    platform: Text = "manylinux_2_28_x86_64"  # runtime wheels: Amazon Linux 2023, glibc 2.34
    application_id: Text = ""
    execution_role_arn: Text = ""
    artifacts_uri: Text = ""  # s3://bucket/prefix for the job bundle
    logs_uri: Text = ""  # s3://bucket/prefix for driver and executor logs
    warehouse: Text = ""  # the job runs' warehouse, e.g. s3a://bucket/warehouse
    checkpoints: Text = ""
    bundle_dir: Text = "build/aws"
    runtime_provided: Strings = ("pyspark", "py4j")  # Python packages not to bundle
    jars: Strings = ()  # extra local jars for the job runs (e.g. aws-msk-iam-auth)
    spark_conf: Table = field(default_factory=dict)  # extra --conf for job runs
