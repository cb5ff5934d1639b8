"""How the DuckDB engine reads Delta: Parquet files directly, leaving out the rows deletion
vectors remove, else deltalake; the answers equal Spark's."""

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
from kafka_dedup.forensics.history import AsOf
from kafka_dedup.forensics.output import Result
from kafka_dedup.forensics.parquet_source import parquet_source
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
    source = parquet_source(table, "deleted_rows")
    assert source is not None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if source.deleted is not None:
        con.register("deleted_rows", source.deleted)
    direct = Result(con.sql(source.sql).to_arrow_table())
    reader = Result(table.scan().read_all())
    # same columns in the same (schema) order, partition columns included, same rows
    assert direct.columns == reader.columns == [f.name for f in table.schema().fields]
    assert sorted(direct.rows(), key=repr) == sorted(reader.rows(), key=repr)
    assert direct.table.num_rows > 0
    # a past version lists that version's files
    first = DeltaTable(path, version=0)
    first_source = parquet_source(first, "deleted_rows")
    assert first_source is not None
    assert con.sql(first_source.sql).to_arrow_table().num_rows == first.count()


def test_deletion_vectors_are_applied_by_the_duckdb_engine(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    path = table_path(tmp_path, tables.DELIVERIES)
    # one file, so that the DELETE and the UPDATE leave deletion vectors rather than drop it
    spark.createDataFrame(ROUND_1, tables.DELIVERIES_SCHEMA).coalesce(1).write.format("delta").save(
        path
    )
    spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)"
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE `offset` = 1")
    spark.sql(f"UPDATE delta.`{path}` SET key = 'moved' WHERE `offset` = 2")
    version_before_update = DeltaTable(path).version() - 1
    config = dataclasses.replace(
        base_config,
        storage=dataclasses.replace(base_config.storage, warehouse=str(tmp_path), database="fx_dv"),
    )
    source = parquet_source(DeltaTable(path), "deleted")
    assert source is not None and source.deleted is not None
    assert source.deleted.num_rows == 2  # the deleted row, and the updated row's old copy
    query = "SELECT `offset`, key FROM deliveries ORDER BY `offset`"
    answers = {}
    for name in ("duckdb", "spark"):
        with engines.open_engine(config, name, spark=spark) as engine:
            answers[name] = engine.run(query).rows()
    assert answers["duckdb"] == answers["spark"]
    assert [row[0] for row in answers["duckdb"]] == [0, 2]
    assert answers["duckdb"][1][1] == "moved"
    # and a version before the UPDATE, through the same deletion-vector path
    as_of = AsOf(version=version_before_update, table=tables.DELIVERIES)
    with engines.open_engine(config, "duckdb", as_of=as_of) as engine:
        assert [row[0] for row in engine.run(query).rows()] == [0, 2]
        assert engine.run(query).rows()[1][1] != "moved"


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
