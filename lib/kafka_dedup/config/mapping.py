"""[[ingest.mappings]]: where a topic's records keep their identity, when it is not our envelope.

One table per topic (or topic pattern); the first whose topic matches a record applies, and a
record of a topic no mapping names is read as the JSON envelope of the public contract.
Each field names its sources, tried in order until one has a value:

    "kafka"             the Kafka key (key) or the Kafka timestamp (event_time)
    "header:NAME"       the last header NAME, as UTF-8 text
    "$.a.b"             a field path into the record ("$" is the whole record)
    "hash($.a, $.b)"    event_id only: SHA-256 of those fields, canonically serialised
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, model_validator
from pydantic.dataclasses import dataclass

from kafka_dedup.config.errors import InvalidValueError, reject_unknown_keys

KAFKA = "kafka"
HEADER_PREFIX = "header:"
# The JSONPath subset Spark's variant_get reads: $.name, $['any name'], $[0]
PATH_RE = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*|\['[^'\\]+'\]|\[\d+\])*$")
HASH_RE = re.compile(r"^hash\((.*)\)$")
HEADER_RE = re.compile(r"^header:[\x21-\x7e]+$")
# avro: the Confluent wire format, writer schemas from kafka.schema_registry_url
JSON, AVRO = "json", "avro"
FORMATS = (JSON, AVRO)
ISO_8601, EPOCH_SECONDS, EPOCH_MILLIS = "iso8601", "epoch_seconds", "epoch_millis"
TIME_FORMATS = (ISO_8601, EPOCH_SECONDS, EPOCH_MILLIS)
# Unlike the flat sections, a number is never taken for a string here: it is a mistake.
STRICT = ConfigDict(str_strip_whitespace=True)


def is_path(source: str) -> bool:
    return source.startswith("$")


def is_header(source: str) -> bool:
    return source.startswith(HEADER_PREFIX)


def header_name(source: str) -> str:
    return source[len(HEADER_PREFIX) :]


def hash_fields(source: str) -> tuple[str, ...] | None:
    """The field paths of a 'hash(...)' source, or None when it is not one."""
    match = HASH_RE.match(source)
    if match is None:
        return None
    return tuple(part.strip() for part in match.group(1).split(",") if part.strip())


def _check_source(source: str, kafka: bool, hashed: bool) -> None:
    fields = hash_fields(source)
    if fields is not None:
        bad = next((f for f in fields if not PATH_RE.match(f)), None)
        if not hashed:
            raise InvalidValueError("hash(...) is for event_id only", source)
        if not fields or bad is not None:
            raise InvalidValueError("expected hash($.field, ...) of field paths", source)
        return
    if source == KAFKA and kafka:
        return
    if HEADER_RE.match(source) or PATH_RE.match(source):
        return
    forms = ['"header:NAME"', '"$.field.path"']
    if kafka:
        forms.insert(0, '"kafka"')
    if hashed:
        forms.append('"hash($.a, $.b)"')
    raise InvalidValueError(f"expected {', '.join(forms)} or a list of them", source)


def sources(*, required: bool, kafka: bool = False, hashed: bool = False) -> BeforeValidator:
    """A field's sources: a string or list of strings, each of the forms this field allows."""

    def parse(value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise InvalidValueError("expected a source string or a list of them", value)
        cleaned = tuple(v.strip() for v in items if v.strip())
        if required and not cleaned:
            raise InvalidValueError("required: where the value comes from", value)
        for source in cleaned:
            _check_source(source, kafka, hashed)
        return cleaned

    return BeforeValidator(parse)


def _one_of(choices: tuple[str, ...]) -> BeforeValidator:
    def parse(value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in choices:
            raise InvalidValueError(f"expected one of {', '.join(choices)}", value)
        return str(text)

    return BeforeValidator(parse)


Sources = tuple[str, ...]


@dataclass(frozen=True, config=STRICT)
class TopicMapping:
    """Where one topic's (or topic pattern's) records keep key, event_id, event_time ..."""

    topic: str = ""  # exact topic name, or
    topic_pattern: str = ""  # a Java regex the whole topic name matches
    format: Annotated[str, _one_of(FORMATS)] = JSON
    key: Annotated[Sources, sources(required=True, kafka=True)] = (KAFKA, "$.key")
    event_id: Annotated[Sources, sources(required=True, hashed=True)] = ("$.event_id",)
    event_time: Annotated[Sources, sources(required=True, kafka=True)] = ("$.event_time",)
    event_time_format: Annotated[str, _one_of(TIME_FORMATS)] = ISO_8601
    sequence: Annotated[Sources, sources(required=False)] = ("$.sequence",)
    event_type: Annotated[Sources, sources(required=False)] = ("$.event_type",)
    producer_id: Annotated[Sources, sources(required=False)] = ("$.producer_id",)
    payload: Annotated[Sources, sources(required=False)] = ("$.payload",)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return reject_unknown_keys([f.name for f in dataclasses.fields(cls)], data)

    @model_validator(mode="after")
    def _consistent(self) -> TopicMapping:
        if bool(self.topic) == bool(self.topic_pattern):
            raise InvalidValueError("set exactly one of topic or topic_pattern")
        if self.topic_pattern:
            try:
                re.compile(self.topic_pattern)
            except re.error as exc:
                raise InvalidValueError(
                    f"not a regular expression ({exc})", self.topic_pattern, key="topic_pattern"
                ) from None
        if KAFKA in self.event_time[:-1]:
            raise InvalidValueError(
                '"kafka" (the Kafka timestamp) always has a value: list it last or alone',
                list(self.event_time),
                key="event_time",
            )
        return self

    @property
    def name(self) -> str:
        """How messages name this mapping: its topic or pattern."""
        return self.topic or self.topic_pattern


def avro_mappings(mappings: tuple[TopicMapping, ...]) -> list[TopicMapping]:
    """The mappings that read Avro (and so need kafka.schema_registry_url)."""
    return [m for m in mappings if m.format == AVRO]


def _mappings(value: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise InvalidValueError("expected [[ingest.mappings]] tables in a config file", value)
    return value


MappingsValidator = BeforeValidator(_mappings)
