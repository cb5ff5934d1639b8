"""Reads and writes of `reconciliation_findings` and `reconciliation_runs`: a re-run replaces
its rows. Every table is reached through the Warehouse.

Runs may overlap (a retry started while the first attempt still runs, a backfill beside the
nightly run): a replacement that loses a commit race to another run's write to the same
table is written again, so the latest writer's rows stand, whole, instead of the run failing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kafka_dedup import conflicts, tables
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


def replace_rows(lake: Warehouse, name: str, rows_df: DataFrame, predicate: str) -> None:
    """Atomically replace the table's rows matching `predicate` by rows_df's, again after a
    commit race (rows_df must not read the rows it replaces: checkpoint it first)."""

    def write() -> None:
        (
            rows_df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .option("mergeSchema", "true")  # tables written before a column was added
            .save(lake.location(name))
        )

    conflicts.retrying(write, f"replacing the rows of {name} where {predicate}")


def replace_findings(
    lake: Warehouse, findings_df: DataFrame, run_date: date, unmerged: bool
) -> None:
    """Atomically replace the run date's UNMERGED findings, or all its other findings."""
    kind = "=" if unmerged else "<>"
    predicate = f"{_date_predicate(run_date)} AND finding_type {kind} '{UNMERGED}'"
    replace_rows(lake, tables.RECONCILIATION_FINDINGS, findings_df, predicate)


def replace_run(lake: Warehouse, run: dict[str, Any]) -> None:
    """Write the run's row, replacing an earlier attempt at the same run date."""
    schema = tables.RECONCILIATION_RUNS_SCHEMA
    run_df = lake.spark.createDataFrame(
        [tuple(run.get(name) for name in schema.fieldNames())], schema
    )
    replace_rows(lake, tables.RECONCILIATION_RUNS, run_df, _date_predicate(run["run_date"]))
