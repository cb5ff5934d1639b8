"""The DuckDB engine reads a table whose schema has a column no data file holds yet."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.schema import Field, PrimitiveType

from kafka_dedup import tables
from kafka_dedup.forensics.duckdb_engine import DuckDBEngine, arrow_field
from kafka_dedup.warehouse import Warehouse

ADDED = "quarantined_at"  # nullable, so a table written before it existed is still valid


def test_a_column_added_after_the_files_were_written_reads_as_null(tmp_path: Path) -> None:
    # DuckDB's own Parquet reader cannot bind a column that no file has; the engine then
    # reads the version through deltalake, which gives the column as nulls.
    schema = tables.SCHEMAS[tables.QUARANTINE]
    older = pa.schema([arrow_field(f) for f in schema.fields if f.name != ADDED])
    row = {f.name: None for f in older} | {"topic": "t", "partition": 0, "offset": 7}
    path = tmp_path / tables.QUARANTINE
    write_deltalake(str(path), pa.Table.from_pylist([row | {"reason": "invalid_json"}], older))
    DeltaTable(str(path)).alter.add_columns([Field(ADDED, PrimitiveType("timestamp"))])

    with DuckDBEngine(Warehouse(str(tmp_path), "fx_added")).open() as engine:
        result = engine.run(f"SELECT topic, `offset`, reason, {ADDED} FROM quarantine")

    assert result.rows() == [("t", 7, "invalid_json", None)]
    assert result.table.schema.field(ADDED).type == pa.timestamp("us", tz="UTC")
