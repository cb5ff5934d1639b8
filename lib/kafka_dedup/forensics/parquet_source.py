"""DuckDB's own Parquet reader over one Delta version's files, when the table allows it.

deltalake resolves which files make up the version; DuckDB then reads them itself, with
filter pushdown and late materialization, which on 1M deliveries answers a point lookup in
a tenth of the time a pyarrow dataset scan takes. Tables using a Delta feature that changes
how files are read (column mapping, ...) keep the deltalake reader; rows removed by deletion
vectors are listed by deltalake and left out of DuckDB's read by their file and position.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

# Reader features that leave the Parquet files readable as they are.
PLAIN_READER_FEATURES = frozenset({"timestampNtz"})
# Rows of a file removed by a deletion vector: DuckDB reads the file, deltalake lists the rows.
DELETION_VECTORS = "deletionVectors"
# Delta primitive types as DuckDB types; `timestamp` is an instant (UTC), like Spark's.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "binary": "BLOB",
    "boolean": "BOOLEAN",
    "byte": "TINYINT",
    "short": "SMALLINT",
    "integer": "INTEGER",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "timestamp_ntz": "TIMESTAMP",
}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _primitive(field_type: Any) -> str | None:
    """The Delta primitive type name, or None for nested types."""
    return (
        getattr(field_type, "type", None) if type(field_type).__name__ == "PrimitiveType" else None
    )


def readable_directly(table: DeltaTable) -> bool:
    """True when the version's Parquet files hold the table's rows (less those its deletion
    vectors remove) under the table's column names."""
    features = set(table.protocol().reader_features or [])
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    return not (features - PLAIN_READER_FEATURES - {DELETION_VECTORS}) and mapping == "none"


@dataclass(frozen=True)
class ParquetSource:
    """A SELECT of one version's rows, and the rows its deletion vectors remove.

    `deleted` (columns `path`, `row`: a data file and a 0-based row position in it) must be
    registered in the DuckDB connection under the name given to `parquet_source`."""

    sql: str
    deleted: pa.Table | None = None


def _local(uri: str) -> str:
    return unquote(uri.removeprefix("file://"))


def deleted_rows(table: DeltaTable) -> pa.Table:
    """(path, row) of every row the version's deletion vectors remove."""
    import pyarrow.compute as pc

    paths: list[str] = []
    rows: list[pa.Array] = []
    vectors = pa.table(table.deletion_vectors())  # an Arrow stream, read once
    masks = vectors.column("selection_vector")
    for n, uri in enumerate(vectors.column("filepath").to_pylist()):
        keep = masks[n].values  # True keeps the row
        removed = pc.indices_nonzero(pc.invert(keep)).cast(pa.int64())
        paths.extend([_local(uri)] * len(removed))
        rows.append(removed)
    row = pa.concat_arrays(rows) if rows else pa.array([], pa.int64())
    return pa.table({"path": pa.array(paths, pa.string()), "row": row})


def parquet_source(table: DeltaTable, deleted_name: str) -> ParquetSource | None:
    """The version's rows in schema order read by DuckDB itself; None when deltalake must.

    Files that carry a deletion vector are read with their row positions, and the positions
    in `deleted_name` (ParquetSource.deleted, registered by the caller) are left out."""
    if not readable_directly(table):
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return None
    features = set(table.protocol().reader_features or [])
    deleted = deleted_rows(table) if DELETION_VECTORS in features else None
    with_dv = set(deleted.column("path").to_pylist()) if deleted is not None else set()
    partitions = list(table.metadata().partition_columns)
    root = table.table_uri.removeprefix("file://").rstrip("/")
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    paths = actions.column("path").to_pylist()
    values = [actions.column(f"partition.{p}").to_pylist() for p in partitions]
    for n, path in enumerate(paths):
        file = f"{root}/{unquote(path)}"
        groups[(file in with_dv, *(v[n] for v in values))].append(file)
    fields = {f.name: f.type for f in table.schema().fields}
    parts = []
    for (has_dv, *key), files in groups.items():
        listed = ", ".join(_literal(f) for f in files)
        constants = "".join(
            f", CAST({_literal(v)} AS {DUCKDB_TYPES[_primitive(fields[p]) or 'string']}) AS "
            f"{quote_identifier(p)}"
            for p, v in zip(partitions, key, strict=True)
        )
        if has_dv:
            parts.append(
                f"SELECT * EXCLUDE (filename, file_row_number){constants} FROM read_parquet("
                f"[{listed}], union_by_name = true, filename = true, file_row_number = true) AS f "
                f"WHERE NOT EXISTS (SELECT 1 FROM {deleted_name} AS d "
                "WHERE d.path = f.filename AND d.row = f.file_row_number)"
            )
        else:
            parts.append(f"SELECT *{constants} FROM read_parquet([{listed}], union_by_name = true)")
    columns = ", ".join(_column(name, field_type) for name, field_type in fields.items())
    sql = f"SELECT {columns} FROM ({' UNION ALL BY NAME '.join(parts)})"
    return ParquetSource(sql, deleted)


def _column(name: str, field_type: Any) -> str:
    """Timestamps as instants: Spark writes them as INT96, which DuckDB reads zone-less."""
    quoted = quote_identifier(name)
    if _primitive(field_type) == "timestamp":
        return f"CAST({quoted} AS TIMESTAMPTZ) AS {quoted}"
    return quoted
