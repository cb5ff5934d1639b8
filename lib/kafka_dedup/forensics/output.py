"""Render query results as an aligned table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa

FORMATS = ("table", "csv", "json")
DEFAULT_LIMIT = 100
MAX_CELL_WIDTH = 60
NULL_TEXT = "NULL"
# What a terminal acts on (C0 and C1 controls, DEL) or reorders text by (bidi controls).
# Raw Kafka keys and values are written by whoever can produce to the topic, so the shell
# shows these as escapes instead of letting them move the cursor, retitle or recolor.
C0_C1_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
BIDI_CONTROLS = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
NAMED_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
TEXT_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in C0_C1_CONTROLS},
    **{c: f"\\u{c:04x}" for c in BIDI_CONTROLS},
    **NAMED_ESCAPES,
}
CSV_ESCAPES = {c: e for c, e in TEXT_ESCAPES.items() if c not in (0x09, 0x0A)}
# json.dumps escapes C0 itself; these are the rest, as JSON escapes of the same characters.
JSON_ESCAPES = {c: f"\\u{c:04x}" for c in [0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS]}


def escape_controls(text: str) -> str:
    """Control and bidi characters as visible escapes (`\\x1b`, `\\n`, `\\u202e`)."""
    return text.translate(TEXT_ESCAPES)


@dataclass(frozen=True)
class Result:
    """Rows of one statement as Arrow, and whether a row limit cut them."""

    table: pa.Table
    truncated: bool = False

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples of Python values (timestamps as aware UTC datetimes)."""
        columns = [normalize_column(c.to_pylist()) for c in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []


@dataclass(frozen=True)
class Section:
    """One titled result of a ready query (`summary` has several)."""

    name: str
    title: str
    result: Result


@dataclass
class Report:
    """A ready query's answer: its sections, and notes for the reader (verdicts, caveats)."""

    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def _utc(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:  # engines compute in UTC (session time zone)
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def normalize_column(values: list[Any]) -> list[Any]:
    """Timestamps as aware UTC datetimes, whichever engine (and Arrow time zone) produced them."""
    return [_utc(v) for v in values]


def _binary_text(value: bytes) -> str:
    """Kafka keys and values are mostly UTF-8 JSON: show text, else hex."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()


def _timestamp_text(value: datetime, separator: str) -> str:
    text = value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=separator)
    return text.rstrip("0") if "." in text else text


def cell_text(value: Any) -> str:
    """One value as the table and CSV formats show it."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _timestamp_text(value, " ")
    if isinstance(value, (date, time, timedelta, Decimal)):
        return str(value)
    if isinstance(value, float):
        return format(value, ".6g") if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return _binary_text(bytes(value))
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(_json_value(value), ensure_ascii=False)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp_text(value, "T") + "Z"
    if isinstance(value, (date, time, timedelta)):
        return str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray)):
        return _binary_text(bytes(value))
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Arrow maps arrive as lists of (key, value) pairs
        return [_json_value(v) for v in value]
    return value


def _clip(text: str) -> str:
    text = escape_controls(text)
    return text if len(text) <= MAX_CELL_WIDTH else text[: MAX_CELL_WIDTH - 1] + "…"


def render_table(result: Result) -> str:
    """Aligned columns, numbers right-aligned; a footer with the row count or the cut."""
    columns = result.columns
    rows = result.rows()
    headers = [_clip(c) for c in columns]
    cells = [[_clip(cell_text(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in result.table.schema.types]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return " | ".join(parts).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    plural = "" if len(rows) == 1 else "s"
    if result.truncated:
        out.append(f"({len(rows)} row{plural} shown; more were cut: raise --limit or use 0)")
    else:
        out.append(f"({len(rows)} row{plural})")
    return "\n".join(out)


def render_csv(result: Result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows():
        writer.writerow(["" if v is None else cell_text(v) for v in row])
    # tabs and line breaks stay (quoted by the writer): they are data, not terminal commands
    return buffer.getvalue().rstrip("\n").translate(CSV_ESCAPES)


def json_rows(result: Result) -> list[dict[str, Any]]:
    return [
        {c: _json_value(v) for c, v in zip(result.columns, row, strict=True)}
        for row in result.rows()
    ]


def _json_text(value: Any, indent: int | None = None) -> str:
    """JSON with non-ASCII text kept and control characters escaped."""
    return json.dumps(value, ensure_ascii=False, indent=indent).translate(JSON_ESCAPES)


def render_result(result: Result, fmt: str) -> str:
    """One statement's result in the chosen format."""
    if fmt == "csv":
        return render_csv(result)
    if fmt == "json":
        return _json_text(json_rows(result))
    return render_table(result)


def render_report(report: Report, fmt: str) -> str:
    """A ready query's sections: titled tables, CSV blocks, or one JSON object."""
    if fmt == "json":
        body = {s.name: json_rows(s.result) for s in report.sections}
        return _json_text({**body, "notes": report.notes}, indent=1)
    blocks = []
    for section in report.sections:
        title = f"# {section.title}" if fmt == "csv" else f"== {section.title} =="
        blocks.append(f"{title}\n{render_result(section.result, fmt)}")
    notes = [("# " if fmt == "csv" else "") + note for note in report.notes]
    return "\n\n".join(blocks + (["\n".join(notes)] if notes else []))
