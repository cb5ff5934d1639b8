"""Time travel resolution, engine choice, parameter translation and the gaps verdict."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kafka_dedup.forensics.duckdb_engine import to_duckdb_params
from kafka_dedup.forensics.engine import EngineError, used_params
from kafka_dedup.forensics.engines import pick_engine
from kafka_dedup.forensics.gaps import duration_ms, human, verdict
from kafka_dedup.forensics.history import (
    AsOf,
    AsOfError,
    Commit,
    cutoff_ms,
    monotonize,
    parse_timestamp,
    read_local_history,
    version_at,
)

T0 = 1_795_000_000_000  # epoch ms


def test_monotonize_moves_a_commit_that_looks_older_than_its_predecessor() -> None:
    commits = [Commit(1, T0 + 5, "MERGE"), Commit(0, T0 + 10, "WRITE"), Commit(2, T0 + 9, "X")]
    assert monotonize(commits) == [
        Commit(0, T0 + 10, "WRITE"),
        Commit(1, T0 + 11, "MERGE"),
        Commit(2, T0 + 12, "X"),
    ]


def test_version_at_picks_the_newest_commit_not_after_the_point() -> None:
    commits = [Commit(0, T0, "CREATE TABLE"), Commit(1, T0 + 100, "WRITE")]
    assert version_at(commits, T0 - 1) is None  # the table did not exist yet
    assert version_at(commits, T0) == 0
    assert version_at(commits, T0 + 99) == 0
    assert version_at(commits, T0 + 10_000) == 1


def test_cutoff_from_a_timestamp_or_from_a_table_version() -> None:
    histories = {"deliveries": [Commit(0, T0, "WRITE"), Commit(1, T0 + 50, "WRITE")]}
    moment = datetime.fromtimestamp((T0 + 7) / 1000, tz=timezone.utc)
    assert cutoff_ms(AsOf(timestamp=moment), histories) == T0 + 7
    assert cutoff_ms(AsOf(version=1, table="deliveries"), histories) == T0 + 50
    with pytest.raises(AsOfError, match="deliveries has no version 5; its versions are 0 to 1"):
        cutoff_ms(AsOf(version=5, table="deliveries"), histories)
    with pytest.raises(AsOfError, match="table events does not exist in this warehouse"):
        cutoff_ms(AsOf(version=0, table="events"), histories)


def test_parse_timestamp_defaults_to_utc_and_rejects_garbage() -> None:
    assert parse_timestamp("2026-11-25T10:00:00Z") == datetime(
        2026, 11, 25, 10, tzinfo=timezone.utc
    )
    assert parse_timestamp("2026-11-25 10:00") == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    plus_one = parse_timestamp("2026-11-25T11:00:00+01:00")
    assert plus_one.astimezone(timezone.utc) == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    with pytest.raises(AsOfError, match="timestamp 'yesterday' is not ISO-8601"):
        parse_timestamp("yesterday")


def _commit_file(log: Path, version: int, mtime_ms: int, info: dict[str, object]) -> None:
    path = log / f"{version:020d}.json"
    path.write_text(json.dumps({"commitInfo": info}) + "\n" + '{"add": {}}\n')
    os.utime(path, ns=(mtime_ms * 10**6, mtime_ms * 10**6))


def test_local_history_dates_commits_like_spark(tmp_path: Path) -> None:
    log = tmp_path / "_delta_log"
    log.mkdir()
    # file times, not commitInfo.timestamp, unless an in-commit timestamp is present
    _commit_file(log, 0, T0, {"operation": "CREATE TABLE", "timestamp": 1})
    _commit_file(log, 1, T0 - 5, {"operation": "MERGE", "timestamp": 2})  # clock went back
    _commit_file(log, 2, T0 + 100, {"operation": "WRITE", "inCommitTimestamp": T0 + 70})
    (log / "00000000000000000002.checkpoint.parquet").write_bytes(b"")
    assert read_local_history(str(tmp_path)) == [
        Commit(0, T0, "CREATE TABLE"),
        Commit(1, T0 + 1, "MERGE"),
        Commit(2, T0 + 70, "WRITE"),
    ]
    assert [c.changes_data for c in read_local_history(str(tmp_path))] == [False, True, True]


@pytest.mark.parametrize(
    ("requested", "warehouse", "allow_write", "chosen"),
    [
        ("auto", "/data/warehouse", False, "duckdb"),
        ("auto", "s3a://lake/warehouse", False, "spark"),
        ("auto", "/data/warehouse", True, "spark"),
        ("spark", "/data/warehouse", False, "spark"),
        ("duckdb", "/data/warehouse", False, "duckdb"),
    ],
)
def test_engine_choice(requested: str, warehouse: str, allow_write: bool, chosen: str) -> None:
    assert pick_engine(requested, warehouse, allow_write) == chosen


def test_duckdb_cannot_write_or_read_s3() -> None:
    with pytest.raises(EngineError, match="--allow-write needs --engine spark"):
        pick_engine("duckdb", "/w", allow_write=True)
    with pytest.raises(EngineError, match="use --engine spark for s3a://b/w"):
        pick_engine("duckdb", "s3a://b/w")


def test_parameters_are_translated_outside_strings_only() -> None:
    sql = "SELECT x::INT, ':no', `a:b` FROM t WHERE key = :key AND id = :event_id -- :c"
    assert to_duckdb_params(sql) == (
        "SELECT x::INT, ':no', `a:b` FROM t WHERE key = $key AND id = $event_id -- :c"
    )
    assert used_params(sql, {"key": "k", "event_id": "e", "c": 1, "no": 2}) == {
        "key": "k",
        "event_id": "e",
    }


def test_durations_and_the_watermark_verdict() -> None:
    assert duration_ms("1 hour") == 3_600_000
    assert duration_ms("30 minutes") == 1_800_000
    assert duration_ms("10 seconds") == 10_000
    assert [human(850), human(12_500), human(252_000), human(5_400_000)] == [
        "850 ms",
        "12.5 s",
        "4.2 min",
        "1.5 h",
    ]
    assert verdict(0, 0, None, "1 hour").startswith("no later copies")
    assert verdict(4, 0, 12_000, "1 hour") == (
        "watermark delay 1 hour is wide enough: all 4 later copies arrived within 12 s of "
        "their first copy"
    )
    narrow = verdict(4, 1, int(timedelta(hours=2).total_seconds() * 1000), "1 hour")
    assert narrow.startswith("watermark delay 1 hour is too narrow: 1 of 4 later copies (25.0%)")
    assert narrow.endswith("widen ingest.watermark to at least 2 h to drop them in the stream")
