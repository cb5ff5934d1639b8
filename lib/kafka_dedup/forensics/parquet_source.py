"""DuckDB's own Parquet reader over one Delta version's files, when the table allows it.

deltalake resolves which files make up the version; DuckDB then reads them itself, with
filter pushdown and late materialization, which on 1M deliveries answers a point lookup in
a tenth of the time a pyarrow dataset scan takes. Tables using a Delta feature that changes
how files are read (deletion vectors, column mapping, ...) keep the deltalake reader.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

# Reader features that leave the Parquet files readable as they are.
PLAIN_READER_FEATURES = frozenset({"timestampNtz"})
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
    """True when the version's Parquet files hold exactly the table's rows and column names."""
    features = set(table.protocol().reader_features or [])
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    return not (features - PLAIN_READER_FEATURES) and mapping == "none"


def parquet_sql(table: DeltaTable) -> str | None:
    """A SELECT of the version's rows in schema order; None when deltalake must read it."""
    if not readable_directly(table):
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return None
    partitions = list(table.metadata().partition_columns)
    root = table.table_uri.removeprefix("file://").rstrip("/")
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    paths = actions.column("path").to_pylist()
    values = [actions.column(f"partition.{p}").to_pylist() for p in partitions]
    for n, path in enumerate(paths):
        groups[tuple(v[n] for v in values)].append(f"{root}/{unquote(path)}")
    fields = {f.name: f.type for f in table.schema().fields}
    parts = []
    for key, files in groups.items():
        listed = ", ".join(_literal(f) for f in files)
        constants = "".join(
            f", CAST({_literal(v)} AS {DUCKDB_TYPES[_primitive(fields[p]) or 'string']}) AS "
            f"{quote_identifier(p)}"
            for p, v in zip(partitions, key, strict=True)
        )
        parts.append(f"SELECT *{constants} FROM read_parquet([{listed}], union_by_name = true)")
    columns = ", ".join(_column(name, field_type) for name, field_type in fields.items())
    return f"SELECT {columns} FROM ({' UNION ALL BY NAME '.join(parts)})"


def _column(name: str, field_type: Any) -> str:
    """Timestamps as instants: Spark writes them as INT96, which DuckDB reads zone-less."""
    quoted = quote_identifier(name)
    if _primitive(field_type) == "timestamp":
        return f"CAST({quoted} AS TIMESTAMPTZ) AS {quoted}"
    return quoted
