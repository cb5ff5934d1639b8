"""Split SQL text into statements and refuse the ones that write, unless writing is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kafka_dedup.errors import UserError

# Statements that only read (or set session options); anything else is refused.
READ_ONLY_FIRST_WORDS = frozenset(
    {
        "SELECT",
        "WITH",
        "VALUES",
        "TABLE",
        "FROM",
        "SHOW",
        "DESCRIBE",
        "DESC",
        "EXPLAIN",
        "SUMMARIZE",
        "SET",
        "RESET",
        "USE",
    }
)
# Words that turn a query form (WITH ..., FROM ..., EXPLAIN ...) into a write.
WRITE_WORDS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "COPY"}
)
# Spark functions that call arbitrary Java code: not a read.
SIDE_EFFECT_FUNCTIONS = frozenset({"REFLECT", "JAVA_METHOD", "TRY_REFLECT"})
WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class WriteRefusedError(UserError):
    """A statement would write data or change a schema while the command is read-only."""


@dataclass(frozen=True)
class Split:
    """Complete statements (without their `;`) and the unfinished text after the last `;`."""

    statements: list[str]
    rest: str


def _scan(text: str, backslash_escapes: bool) -> tuple[str, list[int]]:
    """Mask quoted text and comments with spaces; return the mask and the `;` positions."""
    masked = list(text)
    semicolons: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if backslash_escapes and text[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:  # doubled quote: an escaped quote
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            end = n if newline < 0 else newline
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            end = n if close < 0 else close + 2
        else:
            if ch == ";":
                semicolons.append(i)
            i += 1
            continue
        for k in range(i, end):
            if masked[k] != "\n":
                masked[k] = " "
        i = end
    return "".join(masked), semicolons


def mask(text: str, backslash_escapes: bool = True) -> str:
    """The text with quoted strings, quoted identifiers and comments blanked out."""
    return _scan(text, backslash_escapes)[0]


def split_statements(text: str, backslash_escapes: bool = True) -> Split:
    """Statements separated by `;` outside quotes and comments; blank ones are dropped."""
    masked, semicolons = _scan(text, backslash_escapes)
    statements, start = [], 0
    for pos in semicolons:
        if masked[start:pos].strip():
            statements.append(text[start:pos].strip())
        start = pos + 1
    rest = text[start:]
    return Split(statements, rest if masked[start:].strip() else "")


def statement_kind(statement: str) -> str:
    """The statement's first keyword, upper-cased (`SELECT`, `INSERT`, ...)."""
    words = WORD_RE.findall(mask(statement))
    return words[0].upper() if words else ""


def check_read_only(statement: str) -> None:
    """Raise WriteRefusedError when the statement could write data, change schema or run code."""
    words = [w.upper() for w in WORD_RE.findall(mask(statement))]
    if not words:
        return
    first = words[0]
    if first not in READ_ONLY_FIRST_WORDS:
        raise WriteRefusedError(
            f"{first} statements can write data or change a schema and sql is read-only; "
            "pass --allow-write (Spark engine) to run it"
        )
    writes = [w for w in words if w in WRITE_WORDS]
    if writes:
        raise WriteRefusedError(
            f"this {first} statement contains {writes[0]}, which writes; sql is read-only, "
            "pass --allow-write (Spark engine) to run it"
        )
    calls = [w for w in words if w in SIDE_EFFECT_FUNCTIONS]
    if calls:
        raise WriteRefusedError(
            f"{calls[0].lower()}() runs arbitrary code and sql is read-only; "
            "pass --allow-write (Spark engine) to run it"
        )
