"""Jobs starting on a fresh warehouse at the same moment each create its missing tables once.

Four threads of one Spark session call `ensure` behind a barrier, so all of them find the
table missing and all of them commit its first version; Delta accepts one and fails the others
with ProtocolChangedException. Each loser must run again, find the table, and go on.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable as RustDeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import conflicts, tables
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
