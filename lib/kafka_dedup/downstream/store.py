"""The charges database of the reference consumer: a SQLite file, or PostgreSQL given a URL."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from kafka_dedup.errors import UserError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:"
CHARGE_COLUMNS = (
    "charge_id",
    "event_id",
    "order_id",
    "amount",
    "currency",
    "charged_at",
    "topic",
    "kafka_partition",
    "kafka_offset",
)
# SQLite: REAL and ISO-8601 text read back through JDBC as double and string; PostgreSQL keeps
# money exact and times as instants.
DDL = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS charges (charge_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, "
        "order_id TEXT, amount REAL, currency TEXT, charged_at TEXT NOT NULL, topic TEXT, "
        "kafka_partition INTEGER, kafka_offset BIGINT)",
        "CREATE TABLE IF NOT EXISTS processed_events (order_id TEXT NOT NULL, "
        "event_id TEXT NOT NULL, charge_id TEXT NOT NULL, processed_at TEXT NOT NULL, "
        "PRIMARY KEY (order_id, event_id))",
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS charges (charge_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, "
        "order_id TEXT, amount NUMERIC(14, 2), currency TEXT, charged_at TIMESTAMPTZ NOT NULL, "
        "topic TEXT, kafka_partition INTEGER, kafka_offset BIGINT)",
        "CREATE TABLE IF NOT EXISTS processed_events (order_id TEXT NOT NULL, "
        "event_id TEXT NOT NULL, charge_id TEXT NOT NULL, processed_at TIMESTAMPTZ NOT NULL, "
        "PRIMARY KEY (order_id, event_id))",
    ),
}


class DatabaseError(UserError):
    """The charges database cannot be opened."""


@dataclass(frozen=True)
class Charge:
    charge_id: str
    event_id: str
    order_id: str | None
    amount: float
    currency: str | None
    charged_at: datetime
    topic: str
    kafka_partition: int
    kafka_offset: int


class ChargeStore(Protocol):
    def charge(self, charge: Charge, idempotent: bool) -> bool:
        """Write the charge; idempotent: skip (False) when its event was processed before."""

    def counts(self) -> tuple[int, int]:
        """(charge rows, distinct events charged)."""

    def close(self) -> None: ...


def _sql(statement: str, placeholder: str) -> str:
    return statement.replace("?", placeholder)


INSERT_CHARGE = f"INSERT INTO charges ({', '.join(CHARGE_COLUMNS)}) VALUES ({', '.join('?' * 9)})"
# An event's identity is (key, event_id): two orders sharing an event_id are two events.
INSERT_PROCESSED = (
    "INSERT INTO processed_events (order_id, event_id, charge_id, processed_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (order_id, event_id) DO NOTHING"
)
NO_KEY = ""  # a message without a key: the primary key cannot hold null
COUNTS = "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM charges"


class SqliteStore:
    """One transaction per event; the processed-events row and the charge commit together."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, timeout=30)
            for statement in DDL["sqlite"]:
                self.conn.execute(statement)
            self.conn.commit()
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open SQLite database {path}: {exc}") from None

    def _values(self, charge: Charge) -> tuple[Any, ...]:
        values = list(astuple(charge))
        values[5] = charge.charged_at.isoformat(timespec="microseconds")
        return tuple(values)

    def charge(self, charge: Charge, idempotent: bool) -> bool:
        with self.conn:  # commits on success, rolls back on error
            if idempotent:
                stamp = charge.charged_at.isoformat(timespec="microseconds")
                cursor = self.conn.execute(
                    INSERT_PROCESSED,
                    (charge.order_id or NO_KEY, charge.event_id, charge.charge_id, stamp),
                )
                if cursor.rowcount == 0:
                    return False
            self.conn.execute(INSERT_CHARGE, self._values(charge))
        return True

    def counts(self) -> tuple[int, int]:
        rows, events = self.conn.execute(COUNTS).fetchone()
        return int(rows), int(events)

    def close(self) -> None:
        self.conn.close()


class PostgresStore:
    """The same transactions on PostgreSQL (psycopg 3; autocommit outside `transaction()`)."""

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            self.conn = psycopg.connect(url, connect_timeout=10, autocommit=True)
            with self.conn.transaction():
                for statement in DDL["postgresql"]:
                    self.conn.execute(statement)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or ["error"])[0]
            raise DatabaseError(f"cannot open PostgreSQL database {redact(url)}: {first}") from None

    def charge(self, charge: Charge, idempotent: bool) -> bool:
        with self.conn.transaction():
            if idempotent:
                cursor = self.conn.execute(
                    _sql(INSERT_PROCESSED, "%s"),
                    (
                        charge.order_id or NO_KEY,
                        charge.event_id,
                        charge.charge_id,
                        charge.charged_at,
                    ),
                )
                if cursor.rowcount == 0:
                    return False
            self.conn.execute(_sql(INSERT_CHARGE, "%s"), astuple(charge))
        return True

    def counts(self) -> tuple[int, int]:
        row = self.conn.execute(COUNTS).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self.conn.close()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def is_postgres(database: str) -> bool:
    return database.startswith(POSTGRES_SCHEMES)


def sqlite_path(database: str) -> Path:
    text = database[len(SQLITE_PREFIX) :] if database.startswith(SQLITE_PREFIX) else database
    return Path(text.removeprefix("//")).expanduser().resolve()


def open_store(database: str) -> ChargeStore:
    """A PostgreSQL URL opens PostgreSQL; anything else is a SQLite file path."""
    if is_postgres(database):
        return PostgresStore(database)
    return SqliteStore(sqlite_path(database))


def jdbc_url(database: str) -> str:
    """The JDBC URL that `reconcile` reads the charges with (without the password)."""
    if not is_postgres(database):
        return f"jdbc:sqlite:{sqlite_path(database)}"
    parts = urlsplit(database)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"?user={parts.username}" if parts.username else ""
    return f"jdbc:postgresql://{host}{port}{parts.path}{user}"
