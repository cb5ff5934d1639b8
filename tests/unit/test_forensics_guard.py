"""Statement splitting and the read-only guard: pure text, no engine."""

from __future__ import annotations

import pytest

from kafka_dedup.forensics.guard import (
    WriteRefusedError,
    check_read_only,
    mask,
    split_statements,
    statement_kind,
)


def test_split_ignores_semicolons_in_strings_identifiers_and_comments() -> None:
    text = (
        "SELECT ';' AS a, `x;y` FROM t; -- c;omment\n"
        'SELECT "q;" /* b;lock */ FROM u;\n'
        "SELECT 'it''s; fine'; SELECT 2"
    )
    split = split_statements(text)
    assert split.statements == [
        "SELECT ';' AS a, `x;y` FROM t",
        '-- c;omment\nSELECT "q;" /* b;lock */ FROM u',
        "SELECT 'it''s; fine'",
    ]
    assert split.rest == " SELECT 2"


def test_split_keeps_an_unfinished_statement_as_rest() -> None:
    assert split_statements("SELECT 1;\nSELECT\n  2").rest == "\nSELECT\n  2"
    # an open string swallows the semicolon: the statement is not complete yet
    assert split_statements("SELECT 'a;").statements == []
    assert split_statements("  ;\n; -- only a comment\n").statements == []
    assert split_statements("  ;\n; -- only a comment\n").rest == ""


def test_backslash_escapes_follow_the_dialect() -> None:
    text = r"SELECT 'a\';b'; SELECT 1;"
    # Spark: \' escapes the quote, so one string runs to the second quote
    assert split_statements(text, backslash_escapes=True).statements == [
        r"SELECT 'a\';b'",
        "SELECT 1",
    ]
    # DuckDB: the backslash is a plain character, the string ends at \' and b' opens another
    duckdb_split = split_statements(text, backslash_escapes=False)
    assert duckdb_split.statements == [r"SELECT 'a\'"]
    assert duckdb_split.rest == "b'; SELECT 1;"


def test_mask_blanks_strings_and_comments_but_keeps_length() -> None:
    text = "SELECT 'DROP' -- DELETE\nFROM t"
    masked = mask(text)
    assert len(masked) == len(text)
    assert "DROP" not in masked and "DELETE" not in masked
    assert masked.startswith("SELECT ") and masked.endswith("\nFROM t")


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM deliveries",
        "  (SELECT 1)",
        "with d AS (SELECT * FROM duplicates) SELECT count(*) FROM d",
        "FROM events SELECT key",
        "VALUES (1, 2)",
        "SHOW TABLES",
        "DESCRIBE deliveries",
        "EXPLAIN SELECT 1",
        "SET spark.sql.shuffle.partitions = 2",
        "SELECT 'DROP TABLE events' AS s",  # a string is not a statement
        "-- DELETE FROM events\nSELECT 1",
        "SELECT last_update, created_at FROM t",  # words inside identifiers do not count
    ],
)
def test_reads_pass(statement: str) -> None:
    check_read_only(statement)


@pytest.mark.parametrize(
    ("statement", "word"),
    [
        ("INSERT INTO events SELECT * FROM events", "INSERT"),
        ("delete from deliveries", "DELETE"),
        ("MERGE INTO events USING x ON true WHEN MATCHED THEN DELETE", "MERGE"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("DROP TABLE events", "DROP"),
        ("ALTER TABLE events ADD COLUMNS (x INT)", "ALTER"),
        ("TRUNCATE TABLE events", "TRUNCATE"),
        ("OPTIMIZE events", "OPTIMIZE"),
        ("VACUUM events", "VACUUM"),
        ("RESTORE TABLE events TO VERSION AS OF 1", "RESTORE"),
        ("COPY events TO '/tmp/x.csv'", "COPY"),
        ("ATTACH 'x.db'", "ATTACH"),
        ("CACHE TABLE events", "CACHE"),
    ],
)
def test_writes_and_schema_changes_are_refused(statement: str, word: str) -> None:
    with pytest.raises(WriteRefusedError) as caught:
        check_read_only(statement)
    message = str(caught.value)
    assert message.startswith(f"{word} statements can write data or change a schema")
    assert "--allow-write" in message and "\n" not in message


def test_a_query_form_hiding_a_write_is_refused() -> None:
    with pytest.raises(WriteRefusedError, match="this WITH statement contains INSERT"):
        check_read_only("WITH x AS (SELECT 1) INSERT INTO events SELECT * FROM x")
    with pytest.raises(WriteRefusedError, match="this EXPLAIN statement contains DELETE"):
        check_read_only("EXPLAIN ANALYZE DELETE FROM events")
    with pytest.raises(WriteRefusedError, match=r"reflect\(\) runs arbitrary code"):
        check_read_only("SELECT reflect('java.lang.System', 'exit', 0)")


def test_statement_kind_skips_comments_and_parentheses() -> None:
    assert statement_kind("/* x */ -- y\n ((select 1))") == "SELECT"
    assert statement_kind("   ") == ""
