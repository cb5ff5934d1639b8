"""Writers of `reconciliation_findings` and `reconciliation_runs`: a re-run replaces its rows."""

from __future__ import annotations

from datetime import date
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.reconcile.remediation import REPLAY
from kafka_dedup.reconcile.settings import (
    DUPLICATE,
    LATE_EFFECT,
    MISMATCH,
    MISSING,
    ORPHAN,
    PENDING,
    UNMERGEABLE,
    UNMERGED,
)

REVIEW = "review"
# What a person or a remediation consumer should do about each class.
ACTIONS = {
    MISSING: REPLAY,  # only when no effect of the event exists anywhere: else REVIEW
    DUPLICATE: "compensate",
    ORPHAN: "investigate",
    MISMATCH: "investigate",
    UNMERGED: "investigate",
    LATE_EFFECT: REVIEW,
    UNMERGEABLE: "investigate",
    PENDING: "wait",
}
LOG_SOURCE = "log"  # the source name of UNMERGED findings: the event log itself


def with_run_columns(
    findings_df: DataFrame, run_date: date, source: str, partial: bool = False
) -> DataFrame:
    """Classified rows -> `reconciliation_findings` rows of one run date and source."""
    action = F.lit(None).cast("string")
    for kind, act in ACTIONS.items():
        action = F.when(F.col("finding_type") == kind, F.lit(act)).otherwise(action)
    # a MISSING event with some effects somewhere (fewer than expected): a replay could
    # duplicate those, so a person decides
    some_effect = (F.col("finding_type") == MISSING) & (F.col("effect_count") > 0)
    action = F.when(some_effect, F.lit(REVIEW)).otherwise(action)
    columns = {
        "run_date": F.lit(run_date),
        "source": F.lit(source),
        "action": action,
        "partial": F.lit(partial),
    }
    return findings_df.withColumns(columns).select(
        *tables.RECONCILIATION_FINDINGS_SCHEMA.fieldNames()
    )


def _date_predicate(run_date: date) -> str:
    return f"run_date = DATE'{run_date.isoformat()}'"


def previous_pending(spark: SparkSession, warehouse: str, run_date: date) -> DataFrame | None:
    """The PENDING findings of the latest run before run_date (each run carries them on)."""
    runs_path = tables.location(warehouse, tables.RECONCILIATION_RUNS)
    if not DeltaTable.isDeltaTable(spark, runs_path):
        return None
    before = spark.read.format("delta").load(runs_path).where(f"run_date < DATE'{run_date}'")
    latest = before.agg(F.max("run_date")).first()
    if latest is None or latest[0] is None:
        return None
    findings_df = read_findings(spark, warehouse, latest[0])
    if findings_df is None:
        return None
    return findings_df.where(F.col("finding_type") == PENDING).select("source", "key", "event_id")


def read_findings(spark: SparkSession, warehouse: str, run_date: date) -> DataFrame | None:
    """The findings stored for run_date, or None before the first run."""
    path = tables.location(warehouse, tables.RECONCILIATION_FINDINGS)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path).where(_date_predicate(run_date))


def ensure_tables(spark: SparkSession, warehouse: str, database: str) -> None:
    """Create (once) and register the tables a run writes; the job calls it after its checks."""
    tables.ensure_tables(
        spark,
        warehouse,
        database,
        (tables.EVENTS, tables.RECONCILIATION_FINDINGS, tables.RECONCILIATION_RUNS),
    )


def replace_findings(
    spark: SparkSession, warehouse: str, findings_df: DataFrame, run_date: date, unmerged: bool
) -> None:
    """Atomically replace the run date's UNMERGED findings, or all its other findings."""
    kind = "=" if unmerged else "<>"
    predicate = f"{_date_predicate(run_date)} AND finding_type {kind} '{UNMERGED}'"
    (
        findings_df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .option("mergeSchema", "true")  # tables written before the partial column existed
        .save(tables.location(warehouse, tables.RECONCILIATION_FINDINGS))
    )


def replace_run(spark: SparkSession, warehouse: str, run: dict[str, Any]) -> None:
    """Write the run's row, replacing an earlier attempt at the same run date."""
    schema = tables.RECONCILIATION_RUNS_SCHEMA
    run_df = spark.createDataFrame([tuple(run.get(name) for name in schema.fieldNames())], schema)
    (
        run_df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", _date_predicate(run["run_date"]))
        .option("mergeSchema", "true")
        .save(tables.location(warehouse, tables.RECONCILIATION_RUNS))
    )
