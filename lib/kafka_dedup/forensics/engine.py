"""What the Spark and DuckDB engines share: table registration, time travel, views, errors."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import types as T

from kafka_dedup import tables
from kafka_dedup.errors import UserError
from kafka_dedup.forensics import guard, history, sqltext, views
from kafka_dedup.forensics.history import AsOf, Commit
from kafka_dedup.forensics.output import Result, escape_controls
from kafka_dedup.paths import is_remote
from kafka_dedup.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

STATE_VERSIONS = "entity_state_versions"
PARAM_RE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class QueryError(UserError):
    """The engine rejected a statement; the message is the engine's own first line."""


class EngineError(UserError):
    """The warehouse or the engine choice does not work for this request."""


def state_versions_schema() -> T.StructType:
    """STATE_VERSIONS: the entity_state row at a version, with the commit that made it."""
    commit_fields = [
        T.StructField("version", T.LongType()),
        T.StructField("committed_at", T.TimestampType()),
        T.StructField("operation", T.StringType()),
    ]
    return T.StructType(commit_fields + tables.SCHEMAS[tables.ENTITY_STATE].fields)


def first_line(error: BaseException) -> str:
    """The engine's message without stack traces or query plans (it may quote table data)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return escape_controls(lines[0]) if lines else type(error).__name__


def used_params(sql: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the parameters the statement names: engines reject unused ones."""
    if not params:
        return {}
    masked = sqltext.mask(sql)
    names = set(PARAM_RE.findall(masked))
    return {k: v for k, v in params.items() if k in names}


class Engine(ABC):
    """A read session over one warehouse, optionally as of a past point (Delta time travel)."""

    def __init__(
        self, warehouse: Warehouse, as_of: AsOf | None = None, read_only: bool = True
    ) -> None:
        self.warehouse = warehouse
        self.root = warehouse.root
        self.database = warehouse.database
        self.read_only = read_only
        self.as_of = as_of
        self.cutoff_ms: int | None = None
        self.versions: dict[str, int | None] = {}  # pinned version, None for the latest
        self.absent: list[str] = []
        self._histories: dict[str, list[Commit]] = {}
        self._present: frozenset[str] = frozenset()  # the tables open() found

    # --- what each engine implements -------------------------------------------------------
    @abstractmethod
    def _exists(self, name: str) -> bool: ...

    @abstractmethod
    def _read_history(self, name: str) -> list[Commit]: ...

    @abstractmethod
    def _register(self, name: str, version: int | None, empty: bool) -> None: ...

    @abstractmethod
    def _register_empty(self, name: str, schema: T.StructType) -> None: ...

    @abstractmethod
    def _register_state_versions(self, commits: list[Commit], keys: list[str]) -> None:
        """Define STATE_VERSIONS: entity_state rows of `keys` at each of `commits`."""

    @abstractmethod
    def split(self, text: str) -> guard.Split:
        """Statements cut at the `;` tokens of the engine's own lexer, and the unfinished rest."""

    @abstractmethod
    def check(self, statement: str) -> None:
        """Raise WriteRefusedError unless the engine's parser finds only read-only statements."""

    @abstractmethod
    def _execute(self, sql: str) -> None:
        """Run an internal statement (view definitions), bypassing the read-only guard."""

    @abstractmethod
    def _fetch(self, sql: str, args: dict[str, Any], max_rows: int | None) -> pa.Table:
        """At most max_rows rows as Arrow; the engine's own errors raised as QueryError.

        A read-only engine checks the exact text it runs (parameters in its own syntax) first.
        """

    @abstractmethod
    def materialize(self, name: str, sql: str) -> None:
        """Compute a query once and keep it as a named relation for the next statements."""

    @abstractmethod
    def close(self) -> None: ...

    # --- shared ----------------------------------------------------------------------------
    def run(
        self, sql: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> Result:
        """Run one statement; `limit` keeps at most that many rows and flags the cut."""
        max_rows = None if limit is None else limit + 1
        table = self._fetch(sql, used_params(sql, params), max_rows)
        if limit is not None and table.num_rows > limit:
            return Result(table.slice(0, limit), truncated=True)
        return Result(table)

    def history(self, name: str) -> list[Commit]:
        """The table's commits, oldest first (cached; empty when the table does not exist)."""
        if name not in self._histories:
            self._histories[name] = self._read_history(name) if name in self._present else []
        return self._histories[name]

    def open(self) -> Engine:
        """Register every table of the design by name (empty when absent), then the views."""
        if not is_remote(self.root) and not Path(self.root).is_dir():
            raise EngineError(f"warehouse {self.root} does not exist; pass --warehouse DIR")
        present = [n for n in tables.ALL_TABLES if self._exists(n)]
        if not present:
            raise EngineError(
                f"no kafka-dedup tables under {self.root} (expected deliveries/, events/, "
                "...); run kafka-dedup ingest first or fix --warehouse"
            )
        self._present = frozenset(present)
        if self.as_of is not None:
            self.cutoff_ms = history.cutoff_ms(self.as_of, {n: self.history(n) for n in present})
        for name in tables.ALL_TABLES:
            self._register_one(name, name in present)
        for view, sql in views.VIEWS.items():
            self._execute(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {sql}")
        return self

    def _register_one(self, name: str, present: bool) -> None:
        if not present:
            self.absent.append(name)
            self._register_empty(name, tables.SCHEMAS[name])
            return
        if self.cutoff_ms is None:
            self.versions[name] = None
            self._register(name, None, empty=False)
            return
        version = history.version_at(self.history(name), self.cutoff_ms)
        if version is None:  # created after the as-of point
            self.absent.append(name)
        self.versions[name] = version
        self._register(name, version, empty=version is None)

    def notes(self) -> list[str]:
        """What the reader must know about the snapshot: the as-of point and table versions."""
        if self.as_of is None or self.cutoff_ms is None:
            return []
        pinned = ", ".join(f"{n} v{v}" for n, v in self.versions.items() if v is not None)
        note = f"{self.as_of.describe()} ({history.format_ms(self.cutoff_ms)}): {pinned}"
        missing = [n for n in self.absent if n in self.versions]
        if missing:
            note += f"; not created yet (empty): {', '.join(missing)}"
        return [note]

    def state_versions(self, keys: Sequence[str], max_versions: int) -> list[str]:
        """Define STATE_VERSIONS for `keys` from entity_state's history; return notes."""
        pinned = self.versions.get(tables.ENTITY_STATE)

        def in_view(commit: Commit) -> bool:
            after_cutoff = self.cutoff_ms is not None and (
                pinned is None or commit.version > pinned
            )
            return commit.changes_data and bool(keys) and not after_cutoff

        commits = [c for c in self.history(tables.ENTITY_STATE) if in_view(c)]
        notes = []
        if len(commits) > max_versions:
            notes.append(
                f"entity_state has {len(commits)} data versions; read the newest {max_versions} "
                "(raise --max-versions to see older ones)"
            )
            commits = commits[-max_versions:]
        self._register_state_versions(commits, list(keys))
        return notes

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
