"""Run SQL statements: a script, or an interactive prompt with history and multi-line input."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TextIO

from kafka_dedup import log, tables
from kafka_dedup.errors import UserError
from kafka_dedup.forensics import views
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.output import render_result

logger = log.get(__name__)

PROMPT, CONTINUATION = "sql> ", "  -> "
QUIT_WORDS = frozenset({"\\q", "quit", "exit", "quit;", "exit;"})
HISTORY_ENV = "KAFKA_DEDUP_SQL_HISTORY"
HISTORY_LENGTH = 1000
HELP = """\
statements end with ';' and may span lines; Ctrl-D or \\q quits, Ctrl-C drops the input
\\d          list the tables and views
\\d NAME     describe a table or view
tables: {tables}
views:  {views} (every delivery with copy number, gap and likely cause; only duplicated ones)"""


def history_file() -> Path:
    return Path(os.environ.get(HISTORY_ENV) or Path.home() / ".kafka_dedup_sql_history")


def run_statements(
    engine: Engine, statements: Sequence[str], fmt: str, limit: int | None, out: TextIO
) -> None:
    """Run each statement and print its result; the first error stops (and propagates).

    A read-only engine checks every statement before running the first one.

    Results are separated by a blank line; JSON prints one array per line (JSON Lines).
    """
    if engine.read_only:
        for statement in statements:
            engine.check(statement)
    for n, statement in enumerate(statements):
        if n and fmt != "json":
            print(file=out)
        print(render_result(engine.run(statement, limit=limit), fmt), file=out)


class NoStatementError(UserError):
    """The SQL text holds no statement."""


def run_text(engine: Engine, text: str, fmt: str, limit: int | None, out: TextIO) -> None:
    """Cut text into statements with the engine's own lexer, then run them all."""
    split = engine.split(text)
    statements = split.statements + ([split.rest.strip()] if split.rest.strip() else [])
    if not statements:
        raise NoStatementError("no SQL statement given")
    run_statements(engine, statements, fmt, limit, out)


class Prompt:
    """The interactive loop: results on `out`; an error is logged and the session goes on."""

    def __init__(
        self, engine: Engine, fmt: str, limit: int | None, out: TextIO = sys.stdout
    ) -> None:
        self.engine = engine
        self.fmt = fmt
        self.limit = limit
        self.out = out
        self.readline: ModuleType | None = None
        self.failures = 0

    def enable_history(self) -> None:
        """Line editing and a history file, kept across sessions (interactive terminals)."""
        import readline

        self.readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        path = history_file()
        if path.is_file():
            readline.read_history_file(str(path))

    def save_history(self) -> None:
        if self.readline is not None:
            path = history_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.readline.write_history_file(str(path))

    def loop(self, read: Callable[[str], str]) -> int:
        """Read lines until EOF or \\q; run every statement as soon as its `;` arrives."""
        buffer, start = "", self._history_length()
        while True:
            try:
                line = read(CONTINUATION if buffer.strip() else PROMPT)
            except EOFError:
                break
            except KeyboardInterrupt:  # drop the statement being typed, like psql
                buffer = ""
                print(file=self.out)
                continue
            if not buffer.strip():
                start = self._history_length() - 1
                if line.strip() in QUIT_WORDS:
                    self._forget_last()
                    break
                if line.strip().startswith("\\"):
                    self.meta(line.strip())
                    continue
            buffer += line + "\n"
            split = self.engine.split(buffer)
            for statement in split.statements:
                self.one(statement)
            buffer = split.rest
            if split.statements and not buffer.strip():
                self._collapse_history(start)
        if buffer.strip():
            self.one(buffer.strip())
        return 1 if self.failures else 0

    def one(self, statement: str) -> None:
        try:
            run_statements(self.engine, [statement], self.fmt, self.limit, self.out)
        except UserError as exc:
            self.failures += 1
            logger.error(f"error: {exc}")
        except KeyboardInterrupt:  # Ctrl-C while a statement runs: back to the prompt
            self.failures += 1
            logger.warning("cancelled")

    def meta(self, command: str) -> None:
        """\\d lists tables and views, \\d NAME describes one, anything else prints help."""
        words = command.split()
        if words[0] == "\\d" and len(words) == 2:
            self.one(f"DESCRIBE {words[1].rstrip(';')}")
        elif words[0] == "\\d":
            names = [
                f"{n} (absent: empty)" if n in self.engine.absent else n for n in tables.ALL_TABLES
            ]
            print("\n".join(names + list(views.VIEWS)), file=self.out)
        else:
            print(HELP.format(tables=", ".join(tables.ALL_TABLES), views=", ".join(views.VIEWS)),
                  file=self.out)  # fmt: skip

    def _history_length(self) -> int:
        return self.readline.get_current_history_length() if self.readline else 0

    def _forget_last(self) -> None:
        """Leave the quit command out of the history."""
        if self.readline is not None and self.readline.get_current_history_length():
            self.readline.remove_history_item(self.readline.get_current_history_length() - 1)

    def _collapse_history(self, start: int) -> None:
        """A multi-line statement becomes one history entry, so arrow-up recalls it whole."""
        if self.readline is None:
            return
        end = self.readline.get_current_history_length()
        if end - start <= 1:
            return
        lines = [self.readline.get_history_item(i) for i in range(start + 1, end + 1)]
        for position in range(end - 1, start - 1, -1):
            self.readline.remove_history_item(position)
        self.readline.add_history(" ".join(line.strip() for line in lines if line))


def read_stdin(prompt: str) -> str:
    """Non-interactive input: no prompt, lines from stdin."""
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def interactive(prompt: Prompt) -> int:
    """The prompt on a terminal (with history), or statements piped on stdin."""
    if not sys.stdin.isatty():
        return prompt.loop(read_stdin)
    prompt.enable_history()
    logger.info("kafka-dedup sql: statements end with ';'; \\? for help, \\q to quit")
    try:
        return prompt.loop(input)
    finally:
        prompt.save_history()
