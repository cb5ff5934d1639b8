"""What the read-only shell allows, and the refusal every engine gives for anything else.

Each engine splits and classifies statements with its own lexer and parser
(kafka_dedup.forensics.duckdb_guard, kafka_dedup.forensics.spark_guard): the text checked is
exactly the text the engine then runs, so quoting and comment tricks cannot make the two differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kafka_dedup.errors import UserError

ALLOWED = "queries, EXPLAIN (not ANALYZE), DESCRIBE and SHOW"
WRITE_HINT = "pass --allow-write (Spark engine) to run it"


class WriteRefusedError(UserError):
    """A statement is not one of the read-only kinds while the command is read-only."""


def refuse(kind: str, why: str = "") -> WriteRefusedError:
    """The one-line refusal naming the statement kind (and what inside it is refused)."""
    detail = f" ({why})" if why else ""
    return WriteRefusedError(
        f"{kind} statement refused{detail}: sql is read-only and runs only {ALLOWED}; {WRITE_HINT}"
    )


@dataclass(frozen=True)
class Split:
    """Complete statements (text up to each `;`) and the unfinished text after the last `;`."""

    statements: list[str]
    rest: str


SEMICOLON, CONTENT, BLANK = "semicolon", "content", "blank"


def cut(text: str, tokens: Iterable[tuple[int, str]]) -> Split:
    """Cut text at the `;` tokens of an engine's lexer; pieces holding only blanks are dropped.

    tokens: (offset, SEMICOLON | CONTENT | BLANK) in text order, as the engine's lexer reads
    them (comments and whitespace are BLANK).
    """
    statements, start, content = [], 0, False
    for offset, kind in tokens:
        if kind == SEMICOLON:
            if content:
                statements.append(text[start:offset].strip())
            start, content = offset + 1, False
        elif kind == CONTENT:
            content = True
    return Split(statements, text[start:] if content else "")
