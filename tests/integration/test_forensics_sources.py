"""How the DuckDB engine reads Delta: Parquet files directly when it can, else deltalake, else a
clear error (deletion vectors), while Spark reads everything."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.forensics import engines, trace
from kafka_dedup.forensics.engine import EngineError
from kafka_dedup.forensics.output import Result
from kafka_dedup.forensics.parquet_source import parquet_sql
from tests.integration.forensics_fixtures import ROUND_1, handmade_warehouse, table_path

WRITTEN = (
    tables.DELIVERIES,
    tables.EVENTS,
    tables.ENTITY_STATE,
    tables.QUARANTINE,
    tables.INGEST_BATCHES,
)


@pytest.mark.parametrize("name", WRITTEN)
def test_direct_parquet_read_equals_the_deltalake_reader(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    path = table_path(handmade_warehouse(spark, tmp_path_factory), name)
    table = DeltaTable(path)
    sql = parquet_sql(table)
    assert sql is not None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    direct = Result(con.sql(sql).to_arrow_table())
    reader = Result(table.to_pyarrow_dataset().to_table())
    # same columns in the same (schema) order, partition columns included, same rows
    assert direct.columns == reader.columns == [f.name for f in table.schema().fields]
    assert sorted(direct.rows(), key=repr) == sorted(reader.rows(), key=repr)
    assert direct.table.num_rows > 0
    # a past version lists that version's files
    first = DeltaTable(path, version=0)
    assert con.sql(parquet_sql(first) or "").to_arrow_table().num_rows == first.count()


def test_deletion_vectors_need_the_spark_engine(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    path = table_path(tmp_path, tables.DELIVERIES)
    spark.createDataFrame(ROUND_1, tables.DELIVERIES_SCHEMA).write.format("delta").save(path)
    spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)"
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE `offset` = 1")
    config = dataclasses.replace(
        base_config,
        storage=dataclasses.replace(base_config.storage, warehouse=str(tmp_path), database="fx_dv"),
    )
    assert parquet_sql(DeltaTable(path)) is None
    with pytest.raises(EngineError) as caught:
        engines.open_engine(config, "duckdb")
    message = str(caught.value)
    assert message.startswith("the duckdb engine cannot read table deliveries: ")
    assert "deletionVectors" in message and message.endswith("; use --engine spark")
    with engines.open_engine(config, "spark", spark=spark) as engine:
        result = engine.run("SELECT `offset` FROM deliveries ORDER BY `offset`")
    assert result.rows() == [(0,), (2,)]


def test_trace_shows_reconciliation_findings_once_the_table_exists(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    warehouse = str(tmp_path)
    spark.createDataFrame(ROUND_1, tables.DELIVERIES_SCHEMA).write.format("delta").save(
        table_path(warehouse, tables.DELIVERIES)
    )
    schema = tables.SCHEMAS[tables.RECONCILIATION_FINDINGS]
    known = {
        "run_date": date(2026, 11, 26),
        "source": "payments",
        "finding_type": "DUPLICATE",
        "event_id": "e1",
        "key": "k1",
        "detail": "charged twice",
    }
    # whatever else the reconcile job adds: null, or a placeholder where it must be set
    row = tuple(known.get(f.name, None if f.nullable else "none") for f in schema.fields)
    spark.createDataFrame([row], schema).write.format("delta").partitionBy(
        *tables.PARTITIONING.get(tables.RECONCILIATION_FINDINGS, [])
    ).save(table_path(warehouse, tables.RECONCILIATION_FINDINGS))
    config = dataclasses.replace(
        base_config,
        storage=dataclasses.replace(base_config.storage, warehouse=warehouse, database="fx_rf"),
    )
    expected = [(date(2026, 11, 26), "payments", "DUPLICATE", "e1", "k1", "charged twice")]
    for engine_name in ("duckdb", "spark"):
        with engines.open_engine(config, engine_name, spark=spark) as engine:
            report = trace.trace(engine, event_id="e1")
        findings = next(s.result for s in report.sections if s.name == "findings")
        assert findings.rows() == expected
        assert not any("no reconciliation" in note for note in report.notes)
