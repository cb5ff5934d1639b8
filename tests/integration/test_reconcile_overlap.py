"""Overlapping reconcile runs: a replacement of one run's rows that loses a commit race to
another run's write is written again, so the latest writer's rows stand and no run fails.

The other run is real: while Spark writes, a Python UDF in the rows being written commits a
row of another run to the same table with delta-rs (the `deltalake` package), so Delta fails
the first commit (ConcurrentAppendException), as when a retry of a date starts while the
first attempt still runs, or a backfill finishes beside the nightly run.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable as RustDeltaTable
from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import tables
from kafka_dedup.domain import MISSING
from kafka_dedup.reconcile import store
from kafka_dedup.warehouse import Warehouse
from tests.integration.delta_race import append_once

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 25)
DAY_BEFORE = date(2026, 11, 24)


def finding(run_date: date, event_id: str) -> dict[str, Any]:
    values = {
        "run_date": run_date,
        "source": "payments",
        "finding_type": MISSING,
        "event_id": event_id,
        "key": "k-" + event_id,
        "effect_ids": [],
        "action": "replay",
        "detail": "no charge",
        "partial": False,
    }
    return {f.name: values.get(f.name) for f in tables.RECONCILIATION_FINDINGS_SCHEMA.fields}


def run_row(run_date: date, run_id: str) -> dict[str, Any]:
    values = {"run_date": run_date, "run_id": run_id, "status": "ok", "exit_code": 0}
    return {f.name: values.get(f.name) for f in tables.RECONCILIATION_RUNS_SCHEMA.fields}


def racing(
    rows_df: DataFrame, column: str, path: str, marker: str, other: dict[str, Any]
) -> DataFrame:
    """rows_df, whose first evaluation anywhere (of `column`) commits `other` to the table at
    `path` with delta-rs."""
    return rows_df.withColumn(column, append_once(path, marker, other)(column))


def history(path: str) -> list[str]:
    return [h["operation"] for h in RustDeltaTable(path).history()][::-1]


def test_a_findings_replacement_racing_another_run_of_the_date_is_written_again(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "overlap", spark)
    lake.ensure(tables.RECONCILIATION_FINDINGS)
    path = lake.location(tables.RECONCILIATION_FINDINGS)
    schema = tables.RECONCILIATION_FINDINGS_SCHEMA
    spark.createDataFrame([finding(DAY_BEFORE, "old"), finding(DAY, "stale")], schema).write.format(
        "delta"
    ).mode("append").save(path)
    mine = spark.createDataFrame([finding(DAY, "e1"), finding(DAY, "e2")], schema)
    rows_df = racing(mine, "source", path, str(tmp_path / "raced"), finding(DAY, "other-run"))

    with caplog.at_level(logging.INFO, logger="kafka_dedup"):
        store.replace_findings(lake, rows_df, DAY, unmerged=False)

    assert (tmp_path / "raced").exists()
    rows = sorted(
        (r.run_date, r.event_id) for r in lake.read(tables.RECONCILIATION_FINDINGS).collect()
    )
    assert rows == [(DAY_BEFORE, "old"), (DAY, "e1"), (DAY, "e2")]  # the other run's row replaced
    assert history(path)[-2:] == ["WRITE", "WRITE"]  # delta-rs's append, then the replacement
    retried = [r.getMessage() for r in caplog.records if "ConcurrentAppendException" in r.message]
    assert retried and retried[0].startswith(
        "replacing the rows of reconciliation_findings where run_date = DATE'2026-11-25'"
    )


def test_a_run_row_racing_another_dates_run_row_is_written_again(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = Warehouse(str(tmp_path / "warehouse"), "overlap", spark)
    lake.ensure(tables.RECONCILIATION_RUNS)
    path = lake.location(tables.RECONCILIATION_RUNS)
    mine = spark.createDataFrame([run_row(DAY, "mine")], tables.RECONCILIATION_RUNS_SCHEMA)
    rows_df = racing(mine, "run_id", path, str(tmp_path / "raced"), run_row(DAY_BEFORE, "backfill"))

    store.replace_rows(lake, tables.RECONCILIATION_RUNS, rows_df, f"run_date = DATE'{DAY}'")

    assert (tmp_path / "raced").exists()
    rows = sorted((r.run_date, r.run_id) for r in lake.read(tables.RECONCILIATION_RUNS).collect())
    assert rows == [(DAY_BEFORE, "backfill"), (DAY, "mine")]
