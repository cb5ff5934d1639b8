"""What the read-only shell allows, and the refusal every engine gives for anything else.

Each engine splits and classifies statements with its own lexer and parser
(kafka_dedup.forensics.duckdb_guard, kafka_dedup.forensics.spark_guard): the text checked is
exactly the text the engine then runs, so quoting and comment tricks cannot make the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def cut(text: str, semicolons: Sequence[int], has_content: Sequence[bool]) -> Split:
    """Cut text at the engine lexer's `;` token offsets; pieces without tokens are dropped.

    has_content has one flag per piece (len(semicolons) + 1): whether the lexer found a
    token other than a comment in it.
    """
    statements, start = [], 0
    for pos, content in zip(semicolons, has_content, strict=False):
        if content:
            statements.append(text[start:pos].strip())
        start = pos + 1
    rest = text[start:] if has_content[len(semicolons)] else ""
    return Split(statements, rest)
