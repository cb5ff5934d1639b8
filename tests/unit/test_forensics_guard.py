"""DuckDB's side of the read-only guard: its own tokenizer and parser, no connection needed.

The full corpus (both engines, with a warehouse) is tests/integration/test_forensics_corpus.py.
"""

from __future__ import annotations

import pytest

from kafka_dedup.forensics import duckdb_guard
from kafka_dedup.forensics.engine import QueryError
from kafka_dedup.forensics.guard import Split, WriteRefusedError


def test_split_follows_duckdb_quoting_and_nested_comments() -> None:
    text = (
        "SELECT ';' AS a, \"x;y\" FROM t; -- c;omment\n"
        "SELECT $$ ; $$ /* a /* nested; */ b; */ FROM u;\n"
        "SELECT 'C:\\'; SELECT 2"
    )
    assert duckdb_guard.split(text) == Split(
        [
            "SELECT ';' AS a, \"x;y\" FROM t",
            "-- c;omment\nSELECT $$ ; $$ /* a /* nested; */ b; */ FROM u",
            "SELECT 'C:\\'",
        ],
        " SELECT 2",
    )


def test_split_keeps_an_unfinished_statement_and_drops_empty_ones() -> None:
    assert duckdb_guard.split("SELECT 1;\nSELECT\n  2").rest == "\nSELECT\n  2"
    assert duckdb_guard.split("SELECT 'a;") == Split([], "SELECT 'a;")  # the string is open
    assert duckdb_guard.split("  ;\n; -- only a comment\n") == Split([], "")


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM deliveries",
        "(SELECT 1)",
        "WITH d AS (SELECT * FROM duplicates) SELECT count(*) FROM d",
        "FROM events SELECT key",
        "VALUES (1, 2)",
        "SHOW TABLES",
        "DESCRIBE deliveries",
        "SUMMARIZE deliveries",
        "/* ANALYZE */ EXPLAIN -- ANALYZE\n SELECT 1",
        "SELECT 'DROP TABLE events' AS s",
        "SELECT 'C:\\'",
    ],
)
def test_reads_pass(statement: str) -> None:
    duckdb_guard.check(statement)


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("INSERT INTO events SELECT * FROM events", "INSERT"),
        ("WITH x AS (SELECT 1) DELETE FROM deliveries", "DELETE"),
        ("COPY events TO '/tmp/x.csv'", "COPY"),
        ("SELECT $$x$$; COPY events TO '/tmp/x.csv'", "COPY"),
        ("SET profiling_output = '/tmp/p'", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("INSTALL httpfs", "LOAD"),
        ("ATTACH 'x.db'", "ATTACH"),
        ("UPDATE EXTENSIONS", "unknown"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN DELETE FROM events", "EXPLAIN DELETE"),
        ("EXPLAIN (ANALYZE) SELECT 1", "EXPLAIN"),
    ],
)
def test_everything_else_is_refused_naming_the_kind(statement: str, kind: str) -> None:
    with pytest.raises(WriteRefusedError) as caught:
        duckdb_guard.check(statement)
    message = str(caught.value)
    assert message.startswith(f"{kind} statement refused")
    assert message.endswith("pass --allow-write (Spark engine) to run it")
    assert "\n" not in message


def test_a_syntax_error_is_duckdbs_own_line() -> None:
    with pytest.raises(QueryError, match='^Parser Error: syntax error at or near "SELEC"$'):
        duckdb_guard.check("SELEC 1")
