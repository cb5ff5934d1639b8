"""Jobs starting on a fresh warehouse at the same moment each create its missing tables once.

Four threads of one Spark session call `ensure` behind a barrier, so all of them find the
table missing and all of them commit its first version; Delta accepts one and fails the others,
with ProtocolChangedException or (when the winner's log folder exists but its commit is not
written yet) DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION. Each loser must find the table and go
on. The second case is also staged on its own, with a delta-rs writer as the other job, and so
is a job killed in that moment, which leaves the log folder without a commit.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable as RustDeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import conflicts, tables, warehouse
from kafka_dedup.errors import UserError
from kafka_dedup.warehouse import Warehouse

pytestmark = pytest.mark.integration
JOBS = 4


def test_jobs_creating_the_same_table_at_once_all_go_on(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "create_race", spark)
    barrier = threading.Barrier(JOBS)
    failures: list[str] = []

    def job() -> None:
        barrier.wait()
        try:
            lake.ensure(tables.EVENTS)
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            failures.append(conflicts.conflict_name(exc))

    threads = [threading.Thread(target=job) for _ in range(JOBS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    table = RustDeltaTable(lake.location(tables.EVENTS))
    assert table.version() == 0
    assert [h["operation"] for h in table.history()] == ["CREATE TABLE"]
    assert table.schema().to_arrow().names == tables.SCHEMAS[tables.EVENTS].fieldNames()
    assert spark.table(lake.qualified(tables.EVENTS)).count() == 0


def test_a_creation_in_flight_is_waited_for(spark: SparkSession, tmp_path: Path) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "create_in_flight", spark)
    path = lake.location(tables.EVENTS)
    Path(path, "_delta_log").mkdir(parents=True)  # the other job's folder, its commit to come

    def other_job() -> None:
        time.sleep(2.0)
        RustDeltaTable.create(path, pa.schema([("event_id", pa.string())]), name="other job")

    thread = threading.Thread(target=other_job)
    thread.start()
    try:
        lake.ensure(tables.EVENTS)
    finally:
        thread.join()

    table = RustDeltaTable(path)
    assert table.version() == 0
    assert table.metadata().name == "other job"
    assert spark.table(lake.qualified(tables.EVENTS)).columns == ["event_id"]


def test_a_log_folder_a_killed_creation_left_is_taken_over(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warehouse, "CREATION_WAIT_S", 1.0)
    lake = Warehouse(str(tmp_path / "warehouse"), "create_killed", spark)
    log_folder = Path(lake.location(tables.EVENTS), "_delta_log")
    log_folder.mkdir(parents=True)
    (log_folder / ".00000000000000000000.json.0f1e2d3c.tmp").write_text("{")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    warehouse.logger.addHandler(handler)
    try:
        lake.ensure(tables.EVENTS)
    finally:
        warehouse.logger.removeHandler(handler)

    table = RustDeltaTable(lake.location(tables.EVENTS))
    assert table.version() == 0
    assert table.schema().to_arrow().names == tables.SCHEMAS[tables.EVENTS].fieldNames()
    left = {p.name for p in log_folder.iterdir()}
    assert "00000000000000000000.json" in left
    assert ".00000000000000000000.json.0f1e2d3c.tmp" not in left
    assert [r.getMessage() for r in records] == [
        "events: removing the log folder a killed creation left without a commit (1 files)"
    ]


def test_a_table_folder_holding_other_files_is_a_user_error(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "create_not_delta", spark)
    folder = Path(lake.location(tables.EVENTS))
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1")

    with pytest.raises(UserError, match=r"holds files but no Delta table \(part-0.parquet\)"):
        lake.ensure(tables.EVENTS)
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
