"""Reads and writes of `reconciliation_findings` and `reconciliation_runs`: a re-run replaces
its rows. Every table is reached through the Warehouse."""

from __future__ import annotations

from datetime import date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.domain import PENDING, UNMERGED
from kafka_dedup.warehouse import Warehouse


def _date_predicate(run_date: date) -> str:
    return f"run_date = DATE'{run_date.isoformat()}'"


def previous_pending(lake: Warehouse, run_date: date) -> DataFrame | None:
    """The PENDING findings of the latest run before run_date (each run carries them on)."""
    if not lake.exists(tables.RECONCILIATION_RUNS):
        return None
    before_df = lake.read(tables.RECONCILIATION_RUNS).where(f"run_date < DATE'{run_date}'")
    latest = before_df.agg(F.max("run_date")).first()
    if latest is None or latest[0] is None:
        return None
    findings_df = read_findings(lake, latest[0])
    if findings_df is None:
        return None
    return findings_df.where(F.col("finding_type") == PENDING).select("source", "key", "event_id")


def read_findings(lake: Warehouse, run_date: date) -> DataFrame | None:
    """The findings stored for run_date, or None before the first run."""
    if not lake.exists(tables.RECONCILIATION_FINDINGS):
        return None
    return lake.read(tables.RECONCILIATION_FINDINGS).where(_date_predicate(run_date))


def replace_findings(
    lake: Warehouse, findings_df: DataFrame, run_date: date, unmerged: bool
) -> None:
    """Atomically replace the run date's UNMERGED findings, or all its other findings."""
    kind = "=" if unmerged else "<>"
    predicate = f"{_date_predicate(run_date)} AND finding_type {kind} '{UNMERGED}'"
    (
        findings_df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .option("mergeSchema", "true")  # tables written before the partial column existed
        .save(lake.location(tables.RECONCILIATION_FINDINGS))
    )


def replace_run(lake: Warehouse, run: dict[str, Any]) -> None:
    """Write the run's row, replacing an earlier attempt at the same run date."""
    schema = tables.RECONCILIATION_RUNS_SCHEMA
    run_df = lake.spark.createDataFrame(
        [tuple(run.get(name) for name in schema.fieldNames())], schema
    )
    (
        run_df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", _date_predicate(run["run_date"]))
        .option("mergeSchema", "true")
        .save(lake.location(tables.RECONCILIATION_RUNS))
    )
