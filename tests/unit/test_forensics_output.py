"""Rendering results as table, CSV and JSON from Arrow (what both engines return)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa

from kafka_dedup.forensics.output import Report, Result, Section, render_report, render_result

UTC_TS = pa.timestamp("us", tz="UTC")


def sample() -> pa.Table:
    # a null in every column, a non-UTF-8 value, a fractional second, a float
    return pa.table(
        {
            "key": pa.array(["k1", None]),
            "offset": pa.array([5, None], pa.int64()),
            "at": pa.array(
                [datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=timezone.utc), None], UTC_TS
            ),
            "raw": pa.array([b'{"a":1}', b"\xff\x00"], pa.binary()),
            "pct": pa.array([42.857142857142854, None], pa.float64()),
        }
    )


def test_table_aligns_columns_and_counts_rows() -> None:
    text = render_result(Result(sample()), "table")
    assert text.splitlines() == [
        "key  | offset | at                      | raw     |     pct",
        "-----+--------+-------------------------+---------+--------",
        'k1   |      5 | 2026-11-25 10:00:00.123 | {"a":1} | 42.8571',
        "NULL |   NULL | NULL                    | 0xff00  |    NULL",
        "(2 rows)",
    ]


def test_table_says_when_the_limit_cut_rows() -> None:
    text = render_result(Result(sample().slice(0, 1), truncated=True), "table")
    assert text.splitlines()[-1] == "(1 row shown; more were cut: raise --limit or use 0)"


def test_long_cells_are_clipped_in_the_table_only() -> None:
    table = pa.table({"payload": ["x" * 100]})
    assert render_result(Result(table), "table").splitlines()[2] == "x" * 59 + "…"
    assert render_result(Result(table), "csv").splitlines()[1] == "x" * 100


def test_csv_uses_empty_fields_for_null() -> None:
    assert render_result(Result(sample()), "csv").splitlines() == [
        "key,offset,at,raw,pct",
        'k1,5,2026-11-25 10:00:00.123,"{""a"":1}",42.8571',
        ",,,0xff00,",
    ]


def test_json_rows_use_iso_timestamps_and_native_numbers() -> None:
    rows = json.loads(render_result(Result(sample()), "json"))
    assert rows == [
        {
            "key": "k1",
            "offset": 5,
            "at": "2026-11-25T10:00:00.123Z",
            "raw": '{"a":1}',
            "pct": 42.857142857142854,
        },
        {"key": None, "offset": None, "at": None, "raw": "0xff00", "pct": None},
    ]


def test_naive_timestamps_are_read_as_utc() -> None:
    # DuckDB may hand back zone-less timestamps; they are UTC in both engines
    table = pa.table({"at": pa.array([datetime(2026, 1, 1, 9, 30)], pa.timestamp("us"))})
    assert Result(table).rows() == [(datetime(2026, 1, 1, 9, 30, tzinfo=timezone.utc),)]


def test_nested_values_render_as_json() -> None:
    headers = pa.array(
        [[{"key": "h", "value": b"v"}]],
        pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())])),
    )
    table = pa.table({"headers": headers})
    assert render_result(Result(table), "table").splitlines()[2] == '[{"key": "h", "value": "v"}]'


def test_report_titles_sections_and_appends_notes() -> None:
    one = Result(pa.table({"n": pa.array([1], pa.int64())}))
    report = Report([Section("a", "first", one), Section("b", "second", one)], ["a note"])
    assert render_report(report, "table").split("\n\n") == [
        "== first ==\nn\n-\n1\n(1 row)",
        "== second ==\nn\n-\n1\n(1 row)",
        "a note",
    ]
    assert render_report(report, "csv").split("\n\n") == [
        "# first\nn\n1",
        "# second\nn\n1",
        "# a note",
    ]
    assert json.loads(render_report(report, "json")) == {
        "a": [{"n": 1}],
        "b": [{"n": 1}],
        "notes": ["a note"],
    }


# A raw Kafka value written by an attacker: retitle the terminal, clear the screen, a C1 CSI,
# a bidi override that reverses what follows, a carriage return that hides the start.
HOSTILE = "ok\x1b]0;pwned\x07\x1b[2J\x9b1m\u202eevil\rfake\tx\ny"


def test_control_characters_are_escaped_in_every_format() -> None:
    result = Result(pa.table({"raw\x1b[31m": pa.array([HOSTILE.encode()], pa.binary())}))
    table = render_result(result, "table").splitlines()
    assert table[0] == "raw\\x1b[31m"
    assert table[2] == "ok\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m\\u202eevil\\rfake\\tx\\ny"
    csv_text = render_result(result, "csv")
    # tabs and line breaks are data in CSV (quoted); the rest is escaped
    assert csv_text == 'raw\\x1b[31m\n"ok\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m\\u202eevil\\rfake\tx\ny"'
    json_text = render_result(result, "json")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in json_text)
    assert json.loads(json_text) == [{"raw\x1b[31m": HOSTILE}]  # the same data, escaped as JSON
