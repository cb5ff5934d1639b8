"""DuckDB's side of the read-only shell: its own tokenizer and parser, and its sandbox settings.

`duckdb.tokenize` finds the `;` that end statements (dollar quotes, nested comments and
DuckDB's backslash rules included); `duckdb.extract_statements` gives each statement's type.
SELECT covers queries, FROM-first queries, VALUES, TABLE, DESCRIBE, SHOW and SUMMARIZE.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from kafka_dedup.forensics import guard
from kafka_dedup.forensics.engine import QueryError, first_line

READ_KIND = "SELECT"
EXPLAIN_KIND = "EXPLAIN"
EXECUTING_EXPLAIN = frozenset({"ANALYZE", "ANALYSE"})
# After these, the connection reads files under the allowed directories only, installs and
# loads no extension, and no statement can change a setting (SET fails: configuration locked).
SANDBOX = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)


def sandbox(con: duckdb.DuckDBPyConnection, directories: Sequence[str]) -> None:
    """Lock the connection down to reading files under `directories` (each ending in `/`)."""
    listed = ", ".join("'" + d.replace("'", "''") + "'" for d in directories)
    con.execute(f"SET allowed_directories = [{listed}]")  # must precede disabling access
    for statement in SANDBOX:
        con.execute(statement)


def _words(text: str) -> list[tuple[int, str]]:
    """DuckDB's tokens other than comments, as (offset, text)."""
    found = duckdb.tokenize(text)
    ends = [start for start, _ in found[1:]] + [len(text)]
    return [
        (start, text[start:end].strip())
        for (start, kind), end in zip(found, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]


def split(text: str) -> guard.Split:
    """Statements ending in a `;` token, and the unfinished rest."""

    def kind(start: int, token: duckdb.token_type) -> str:
        if token == duckdb.token_type.operator and text[start] == ";":
            return guard.SEMICOLON
        return guard.BLANK if token == duckdb.token_type.comment else guard.CONTENT

    return guard.cut(text, ((start, kind(start, token)) for start, token in duckdb.tokenize(text)))


def parse(text: str) -> list[duckdb.Statement]:
    """DuckDB's statements in text; a syntax error is a one-line QueryError."""
    try:
        return duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryError(first_line(exc)) from None


def _kind(statement: duckdb.Statement) -> str:
    try:
        return statement.type.name
    except ValueError:  # a type the Python enum does not know (UPDATE EXTENSIONS): not a read
        return "unknown"


def check(text: str) -> None:
    """Raise WriteRefusedError unless every statement in text is a read (or a plain EXPLAIN)."""
    for statement in parse(text):
        kind = _kind(statement)
        if kind == EXPLAIN_KIND:
            _check_explain(statement.query)
        elif kind != READ_KIND:
            raise guard.refuse(kind)


def _check_explain(query: str) -> None:
    """EXPLAIN of a query only: EXPLAIN ANALYZE runs the statement, options may ask for it."""
    words = _words(query)
    start, word = words[1] if len(words) > 1 else (len(query), "")
    if word.upper() in EXECUTING_EXPLAIN:
        raise guard.refuse(f"EXPLAIN {word.upper()}", "it runs the statement")
    if word == "(":
        raise guard.refuse(EXPLAIN_KIND, "options are refused, they can ask for ANALYZE")
    inner = parse(query[start:])
    if len(inner) != 1 or _kind(inner[0]) != READ_KIND:
        explained = _kind(inner[0]) if inner else "empty"
        raise guard.refuse(f"EXPLAIN {explained}", "only queries can be explained")
