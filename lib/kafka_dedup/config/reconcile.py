"""The [reconcile] section, typed like every other: downstream sources, windows, thresholds."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Strict, model_validator
from pydantic.dataclasses import dataclass

from kafka_dedup.config.durations import describe, parse_duration
from kafka_dedup.config.errors import ConfigError, InvalidValueError, reject_unknown_keys
from kafka_dedup.config.sections import Table, Whole, at_least, check
from kafka_dedup.domain import DEFAULT_THRESHOLDS

FORMATS = ("delta", "parquet", "json", "csv", "jdbc")
KINDS = ", ".join(FORMATS)
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
PAYLOAD_PREFIX = "payload."
# Unlike the other sections, strings here are never taken from numbers: a source's name,
# path or column written as a number is a mistake worth a message.
STRICT = ConfigDict(str_strip_whitespace=True)


def _event_fields() -> frozenset[str]:
    from kafka_dedup import tables  # Spark's types: imported only when a comparison is checked

    return frozenset(tables.EVENTS_SCHEMA.fieldNames())


def _compare(value: Any) -> tuple[tuple[str, str], ...]:
    # TOML writes { "payload.amount" = "amount" }; a Source already holds (field, column) pairs
    pairs = value.items() if isinstance(value, Mapping) else value
    if not isinstance(pairs, (tuple, list)) and not isinstance(value, Mapping):
        raise InvalidValueError('expected a table like { "payload.amount" = "amount" }')
    known = _event_fields()
    checked = []
    for event_field, column in pairs:
        payload_path = event_field.startswith(PAYLOAD_PREFIX) and event_field != PAYLOAD_PREFIX
        if event_field not in known and not payload_path:
            raise InvalidValueError(
                f"unknown event field {event_field!r}; expected payload.<path> or one of "
                + ", ".join(sorted(known))
            )
        if not isinstance(column, str):
            raise InvalidValueError("expected a string", column, key=event_field)
        checked.append((event_field, column.strip()))
    return tuple(checked)


def _event_types(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise InvalidValueError("expected a list of strings", value)
    return tuple(v.strip() for v in items if v.strip())


@dataclass(frozen=True, config=STRICT)
class Source:
    """One downstream service's side effects: where they are and how to match them to events."""

    name: Annotated[str, check(NAME_RE.match, "expected a name like 'payments'")]
    format: Annotated[
        str, AfterValidator(str.lower), check(FORMATS.__contains__, f"expected one of {KINDS}")
    ]
    path: str = ""
    url: str = ""
    table: str = ""
    query: str = ""
    user: str = ""
    password: str = ""
    password_env: str = ""
    options: Table = field(default_factory=dict)
    event_id_column: Annotated[str, check(bool, "must name the column holding event_id")] = (
        "event_id"
    )
    key_column: str = ""
    effect_id_column: str = ""
    effect_time_column: str = ""
    expects_event_types: Annotated[tuple[str, ...], BeforeValidator(_event_types)] = ()
    effects_per_event: Annotated[Whole, at_least(1)] = 1
    # (event field, effect column)
    compare: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_compare)] = ()
    tolerance: Annotated[float, Strict(), check(lambda x: x >= 0, "expected a number >= 0")] = 0.005

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return reject_unknown_keys([f.name for f in dataclasses.fields(cls)], data)

    @model_validator(mode="after")
    def _location(self) -> Source:
        if self.format != "jdbc":
            if not self.path:
                raise InvalidValueError(f"required for format {self.format!r}", key="path")
        elif not self.url.startswith("jdbc:"):
            raise InvalidValueError("expected a JDBC URL (jdbc:...)", self.url, key="url")
        elif bool(self.table) == bool(self.query):
            raise InvalidValueError("a jdbc source needs exactly one of table or query")
        return self

    def comparisons(self) -> tuple[tuple[str, str], ...]:
        """The configured comparisons (the key is part of the identity, not compared)."""
        return self.compare

    def location(self) -> str:
        """Where the effects are read from, for messages (never includes a password)."""
        if self.format != "jdbc":
            return self.path
        return f"{self.url} ({self.table or 'query'})"


def _sources(value: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise InvalidValueError("expected [[reconcile.sources]] tables", value)
    return value


def _unique_names(sources: tuple[Source, ...]) -> tuple[Source, ...]:
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidValueError(f"name {duplicated[0]!r} is used twice")
    return sources


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ConfigError:
        raise InvalidValueError("expected a duration like '1 hour' or '2 days'", value) from None


def _thresholds(value: Any) -> dict[str, int | None]:
    if not isinstance(value, Mapping):
        raise InvalidValueError("expected a table like { MISSING = 0 }")
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, limit in value.items():
        kind = str(name).upper()
        if kind not in thresholds:
            raise InvalidValueError(
                f"unknown class; expected {', '.join(thresholds)}", key=str(name)
            )
        valid = limit is None or (isinstance(limit, int) and not isinstance(limit, bool))
        if not valid or (limit is not None and limit < -1):
            raise InvalidValueError(
                "expected a whole number >= 0 (-1: no limit)", limit, key=str(name)
            )
        thresholds[kind] = None if limit == -1 else limit
    return thresholds


Duration = Annotated[timedelta, BeforeValidator(_duration)]


@dataclass(frozen=True, config=STRICT)
class ReconcileConfig:
    """The [reconcile] section; `sources` holds one Source per [[reconcile.sources]] table."""

    sources: Annotated[
        tuple[Source, ...], BeforeValidator(_sources), AfterValidator(_unique_names)
    ] = ()
    lookback: Duration = timedelta(days=1)  # how far an event and its effect may lie apart
    grace: Duration = timedelta(hours=1)  # how long an event may wait for its effect
    late_lookback: Duration = timedelta(days=7)  # how old an UNMERGED delivery may be
    report_dir: str = ""  # empty: <warehouse>/_reports; a folder, s3:// or s3a:// URI
    top_rows: Annotated[Whole, at_least(1)] = 20
    # finding type (or MALFORMED) -> how many a run may find before its exit code alerts
    thresholds: Annotated[dict[str, int | None], BeforeValidator(_thresholds)] = field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    remediation_topic: str = ""


def to_table(settings: Any) -> dict[str, Any]:
    """A ReconcileConfig (or Source) as the TOML table a user writes: only non-default values."""
    table: dict[str, Any] = {}
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            default = spec.default
        if value == default:
            continue
        if spec.name == "thresholds":
            value = {k: -1 if v is None else v for k, v in value.items() if v != default[k]}
        elif spec.name == "sources":
            value = [to_table(source) for source in value]
        elif isinstance(value, timedelta):
            value = describe(value)
        elif spec.name == "compare":
            value = dict(value)
        table[spec.name] = list(value) if isinstance(value, tuple) else value
    return table
