"""Delta commit history and time-travel resolution, the same way on every engine."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from kafka_dedup import tables
from kafka_dedup.errors import UserError

COMMIT_FILE_RE = re.compile(r"^(\d{20})\.json$")

# Commits that leave the rows as they were: reading them again would only repeat a version.
NON_DATA_OPERATIONS = frozenset(
    {
        "CREATE TABLE",
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "ADD COLUMNS",
        "CHANGE COLUMN",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "UPGRADE PROTOCOL",
    }
)


class AsOfError(UserError):
    """A time-travel point that no table version matches."""


@dataclass(frozen=True)
class Commit:
    """One table version: its number, commit time (epoch ms, UTC) and operation."""

    version: int
    timestamp_ms: int
    operation: str

    @property
    def changes_data(self) -> bool:
        return self.operation not in NON_DATA_OPERATIONS


@dataclass(frozen=True)
class AsOf:
    """A point in the past: a timestamp, or a version of one table (its commit time)."""

    timestamp: datetime | None = None
    version: int | None = None
    table: str = tables.DELIVERIES

    def describe(self) -> str:
        if self.timestamp is not None:
            return f"as of {format_ms(to_ms(self.timestamp))}"
        return f"as of {self.table} version {self.version}"


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds; a naive datetime is taken as UTC (the session time zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def format_ms(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{timestamp_ms % 1000:03d} UTC"


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 (`2026-11-25T10:00:00Z`, `2026-11-25 10:00`); without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise AsOfError(
            f"timestamp {text!r} is not ISO-8601; use e.g. 2026-11-25T10:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def monotonize(commits: Sequence[Commit]) -> list[Commit]:
    """Delta's rule: a commit never appears older than its predecessor (clock skew, mtime)."""
    ordered = sorted(commits, key=lambda c: c.version)
    result: list[Commit] = []
    for commit in ordered:
        if result and commit.timestamp_ms <= result[-1].timestamp_ms:
            commit = replace(commit, timestamp_ms=result[-1].timestamp_ms + 1)
        result.append(commit)
    return result


def read_local_history(table_path: str) -> list[Commit]:
    """Commits of a local Delta table, timed like Spark's DESCRIBE HISTORY.

    Spark dates a commit by its log file's modification time (unless in-commit timestamps are
    on), not by commitInfo.timestamp; doing the same keeps time travel identical on both engines.
    """
    log_dir = Path(table_path) / "_delta_log"
    commits = []
    for file in log_dir.iterdir():
        match = COMMIT_FILE_RE.match(file.name)
        if not match:
            continue
        info = _commit_info(file)
        in_commit = info.get("inCommitTimestamp")
        file_ms = file.stat().st_mtime_ns // 10**6
        timestamp = in_commit if isinstance(in_commit, int) else file_ms
        commits.append(Commit(int(match.group(1)), timestamp, str(info.get("operation", ""))))
    return monotonize(commits)


def _commit_info(file: Path) -> dict[str, object]:
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            if '"commitInfo"' in line:
                info = json.loads(line).get("commitInfo")
                return info if isinstance(info, dict) else {}
    return {}


def cutoff_ms(as_of: AsOf, histories: dict[str, list[Commit]]) -> int:
    """The commit time every table is read at: the timestamp, or the named version's time."""
    if as_of.timestamp is not None:
        return to_ms(as_of.timestamp)
    commits = histories.get(as_of.table, [])
    for commit in commits:
        if commit.version == as_of.version:
            return commit.timestamp_ms
    if not commits:
        raise AsOfError(f"table {as_of.table} does not exist in this warehouse; pick another")
    first, last = commits[0].version, commits[-1].version
    raise AsOfError(
        f"{as_of.table} has no version {as_of.version}; its versions are {first} to {last}"
    )


def version_at(commits: Sequence[Commit], at_ms: int) -> int | None:
    """The newest version committed at or before at_ms; None when the table was not there yet."""
    found = [c.version for c in commits if c.timestamp_ms <= at_ms]
    return max(found) if found else None
