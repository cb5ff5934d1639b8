"""Warehouse.exists: asked again after another process created the table, and asked of a table
whose early commits the log's clean-up has removed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable as RustDeltaTable
from deltalake import write_deltalake
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.warehouse import Warehouse

pytestmark = pytest.mark.integration
ROWS = pa.table({"event_id": ["e-1"]})


def test_a_table_another_process_created_since_the_first_look_exists(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "exists_later", spark)
    path = lake.location(tables.EVENTS)
    assert not lake.exists(tables.EVENTS)
    Path(path, "_delta_log").mkdir(parents=True)  # a creation in flight: no commit yet
    assert not lake.exists(tables.EVENTS)

    write_deltalake(path, ROWS)  # the other process's first commit

    assert lake.exists(tables.EVENTS)


@pytest.mark.parametrize("pointer", [True, False], ids=["with-last-checkpoint", "listed"])
def test_a_table_whose_first_commits_were_cleaned_up_exists(
    spark: SparkSession, tmp_path: Path, pointer: bool
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "exists_cleaned", spark)
    path = lake.location(tables.EVENTS)
    for _ in range(3):
        write_deltalake(path, ROWS, mode="append")
    RustDeltaTable(path).create_checkpoint()  # of version 2
    log_folder = Path(path, "_delta_log")
    for version in (0, 1):
        (log_folder / f"{version:020d}.json").unlink()
    if not pointer:
        (log_folder / "_last_checkpoint").unlink()

    assert lake.exists(tables.EVENTS)
    assert lake.read(tables.EVENTS).count() == 3
