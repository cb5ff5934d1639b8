"""The `[reconcile]` config table parsed into typed, validated settings (one-line errors)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kafka_dedup import tables
from kafka_dedup.config import ConfigError
from kafka_dedup.session import absolute

FORMATS = ("delta", "parquet", "json", "csv", "jdbc")
MISSING, DUPLICATE, ORPHAN, MISMATCH, UNMERGED = (
    "MISSING",
    "DUPLICATE",
    "ORPHAN",
    "MISMATCH",
    "UNMERGED",
)
# Added by issue 11, keeping the five above as they were:
# LATE_EFFECT: an effect more than `lookback` after its event (review, never replay);
# UNMERGEABLE: a valid delivery absent from events, older than `late_lookback` (not merged);
# PENDING: an event still inside `grace` at the run; a later run re-checks it.
LATE_EFFECT, UNMERGEABLE, PENDING = "LATE_EFFECT", "UNMERGEABLE", "PENDING"
FINDING_TYPES = (MISSING, DUPLICATE, ORPHAN, MISMATCH, UNMERGED, LATE_EFFECT, UNMERGEABLE, PENDING)
MALFORMED = "MALFORMED"  # side-effect rows that cannot be classified: counted, listed, alerted
# A scheduler should alert on any real discrepancy; UNMERGED is repaired by the run itself,
# and a PENDING event is not a discrepancy yet.
DEFAULT_THRESHOLDS: dict[str, int | None] = {
    MISSING: 0,
    DUPLICATE: 0,
    ORPHAN: 0,
    MISMATCH: 0,
    UNMERGED: None,
    LATE_EFFECT: 0,
    UNMERGEABLE: 0,
    PENDING: None,
    MALFORMED: 0,
}
DURATION_RE = re.compile(r"^\s*(\d+)\s+(second|minute|hour|day)s?\s*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
EVENT_FIELDS = frozenset(tables.EVENTS_SCHEMA.fieldNames())
PAYLOAD_PREFIX = "payload."

SOURCE_KEYS = frozenset(
    {
        "name",
        "format",
        "path",
        "url",
        "table",
        "query",
        "user",
        "password",
        "password_env",
        "options",
        "event_id_column",
        "key_column",
        "effect_id_column",
        "effect_time_column",
        "expects_event_types",
        "effects_per_event",
        "compare",
        "tolerance",
    }
)
RECONCILE_KEYS = frozenset(
    {"sources", "lookback", "grace", "late_lookback", "report_dir", "top_rows", "thresholds"}
    | {"remediation_topic"}
)


@dataclass(frozen=True)
class Source:
    """One downstream service's side effects: where they are and how to match them to events."""

    name: str
    format: str
    path: str = ""
    url: str = ""
    table: str = ""
    query: str = ""
    user: str = ""
    password: str = ""
    password_env: str = ""
    options: dict[str, str] = field(default_factory=dict)
    event_id_column: str = "event_id"
    key_column: str = ""
    effect_id_column: str = ""
    effect_time_column: str = ""
    expects_event_types: tuple[str, ...] = ()
    effects_per_event: int = 1
    compare: tuple[tuple[str, str], ...] = ()  # (event field, effect column)
    tolerance: float = 0.005

    def comparisons(self) -> tuple[tuple[str, str], ...]:
        """The configured comparisons (the key is part of the identity, not compared)."""
        return self.compare

    def location(self) -> str:
        """Where the effects are read from, for messages (never includes a password)."""
        if self.format != "jdbc":
            return self.path
        return f"{self.url} ({self.table or 'query'})"


@dataclass(frozen=True)
class Settings:
    sources: tuple[Source, ...] = ()
    lookback: timedelta = timedelta(days=1)  # how far an event and its effect may lie apart
    grace: timedelta = timedelta(hours=1)  # how long an event may wait for its effect
    late_lookback: timedelta = timedelta(days=7)  # how old an UNMERGED delivery may be
    report_dir: str = ""  # empty: <warehouse>/_reports; a folder, s3:// or s3a:// URI
    top_rows: int = 20
    thresholds: dict[str, int | None] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    remediation_topic: str = ""


REPORTS_FOLDER = "_reports"  # under the warehouse when report_dir is not set


def report_folder(report_dir: str, warehouse: str, run_date: str) -> str:
    """Where a run's report.html and summary.json go: <report_dir or warehouse/_reports>/<date>."""
    base = absolute(report_dir or f"{warehouse.rstrip('/')}/{REPORTS_FOLDER}")
    return f"{base.rstrip('/')}/{run_date}"


def parse_duration(key: str, value: Any) -> timedelta:
    """'90 minutes', '1 hour', '2 days' -> timedelta."""
    match = DURATION_RE.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{key} = {value!r}: expected a duration like '1 hour' or '2 days'")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{f"{unit}s": amount})


def describe(delta: timedelta) -> str:
    """timedelta -> '1 hour', '90 minutes', '2 days' (the form the config takes)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} = {value!r}: expected a string")
    return value.strip()


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} = {value!r}: expected a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _whole(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} = {value!r}: expected a whole number >= {minimum}")
    return value


def _compare(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(f'{key}: expected a table like {{ "payload.amount" = "amount" }}')
    pairs = []
    for event_field, column in value.items():
        if event_field not in EVENT_FIELDS and not (
            event_field.startswith(PAYLOAD_PREFIX) and len(event_field) > len(PAYLOAD_PREFIX)
        ):
            raise ConfigError(
                f"{key}: unknown event field {event_field!r}; expected payload.<path> or one "
                f"of {', '.join(sorted(EVENT_FIELDS))}"
            )
        pairs.append((event_field, _string(f"{key}.{event_field}", column)))
    return tuple(pairs)


def parse_source(index: int, raw: Any) -> Source:
    """One `[[reconcile.sources]]` entry -> Source, or a ConfigError naming the key."""
    where = f"reconcile.sources[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table ([[reconcile.sources]])")
    unknown = sorted(set(raw) - SOURCE_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(SOURCE_KEYS))}"
        )
    name = _string(f"{where}.name", raw.get("name", ""))
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}.name = {name!r}: expected a name like 'payments'")
    where = f"reconcile.sources[{name}]"
    fmt = _string(f"{where}.format", raw.get("format", "")).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format = {fmt!r}: expected one of {', '.join(FORMATS)}")
    values: dict[str, Any] = {"name": name, "format": fmt}
    for key in ("path", "url", "table", "query", "user", "password", "password_env"):
        values[key] = _string(f"{where}.{key}", raw.get(key, ""))
    for key in ("event_id_column", "key_column", "effect_id_column", "effect_time_column"):
        if key in raw:
            values[key] = _string(f"{where}.{key}", raw[key])
    if not values.get("event_id_column", "event_id"):
        raise ConfigError(f"{where}.event_id_column: must name the column holding event_id")
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}.options: expected a table of reader options")
    values["options"] = {str(k): str(v) for k, v in options.items()}
    values["expects_event_types"] = _strings(
        f"{where}.expects_event_types", raw.get("expects_event_types", [])
    )
    values["effects_per_event"] = _whole(
        f"{where}.effects_per_event", raw.get("effects_per_event", 1), 1
    )
    values["compare"] = _compare(f"{where}.compare", raw.get("compare", {}))
    tolerance = raw.get("tolerance", Source.tolerance)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ConfigError(f"{where}.tolerance = {tolerance!r}: expected a number >= 0")
    values["tolerance"] = float(tolerance)
    _check_location(where, values)
    return Source(**values)


def _check_location(where: str, values: dict[str, Any]) -> None:
    if values["format"] != "jdbc":
        if not values["path"]:
            raise ConfigError(f"{where}.path: required for format {values['format']!r}")
        return
    if not values["url"].startswith("jdbc:"):
        raise ConfigError(f"{where}.url = {values['url']!r}: expected a JDBC URL (jdbc:...)")
    if bool(values["table"]) == bool(values["query"]):
        raise ConfigError(f"{where}: a jdbc source needs exactly one of table or query")


def _thresholds(value: Any) -> dict[str, int | None]:
    if not isinstance(value, Mapping):
        raise ConfigError("reconcile.thresholds: expected a table like { MISSING = 0 }")
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, limit in value.items():
        kind = str(name).upper()
        if kind not in thresholds:
            known = ", ".join(thresholds)
            raise ConfigError(f"reconcile.thresholds.{name}: unknown class; expected {known}")
        key = f"reconcile.thresholds.{name}"
        thresholds[kind] = None if limit == -1 else _whole(f"{key} (-1: no limit)", limit, 0)
    return thresholds


def parse(raw: Mapping[str, Any]) -> Settings:
    """Config.reconcile (a free table) -> Settings."""
    unknown = sorted(set(raw) - RECONCILE_KEYS)
    if unknown:
        known = ", ".join(sorted(RECONCILE_KEYS))
        raise ConfigError(f"unknown key reconcile.{unknown[0]}; known keys: {known}")
    raw_sources = raw.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("reconcile.sources: expected [[reconcile.sources]] tables")
    sources = tuple(parse_source(i, s) for i, s in enumerate(raw_sources))
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"reconcile.sources: name {duplicated[0]!r} is used twice")
    defaults = Settings()

    def duration(name: str) -> timedelta:
        if name not in raw:
            return getattr(defaults, name)
        return parse_duration(f"reconcile.{name}", raw[name])

    return Settings(
        sources=sources,
        lookback=duration("lookback"),
        grace=duration("grace"),
        late_lookback=duration("late_lookback"),
        report_dir=_string("reconcile.report_dir", raw.get("report_dir", defaults.report_dir)),
        top_rows=_whole("reconcile.top_rows", raw.get("top_rows", defaults.top_rows), 1),
        thresholds=_thresholds(raw.get("thresholds", {})),
        remediation_topic=_string(
            "reconcile.remediation_topic",
            raw.get("remediation_topic", defaults.remediation_topic),
        ),
    )
