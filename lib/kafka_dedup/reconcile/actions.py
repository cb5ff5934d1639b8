"""Classified rows -> `reconciliation_findings` rows: run date, source, and the action to take."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.domain import ACTIONS, MISSING, MISSING_WITH_SOME_EFFECT_ACTION


def action_column() -> Column:
    """The domain's action for each finding type; a MISSING event with some effect is reviewed."""
    action = F.lit(None).cast("string")
    for kind, act in ACTIONS.items():
        action = F.when(F.col("finding_type") == kind, F.lit(act)).otherwise(action)
    some_effect = (F.col("finding_type") == MISSING) & (F.col("effect_count") > 0)
    return F.when(some_effect, F.lit(MISSING_WITH_SOME_EFFECT_ACTION)).otherwise(action)


def with_run_columns(
    findings_df: DataFrame, run_date: date, source: str, partial: bool = False
) -> DataFrame:
    """Classified rows -> `reconciliation_findings` rows of one run date and source."""
    columns = {
        "run_date": F.lit(run_date),
        "source": F.lit(source),
        "action": action_column(),
        "partial": F.lit(partial),
    }
    return findings_df.withColumns(columns).select(
        *tables.RECONCILIATION_FINDINGS_SCHEMA.fieldNames()
    )
