"""DuckDB over the Delta tables read with `deltalake`: sub-second answers on a local warehouse."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaProtocolError
from pyspark.sql import types as T

from kafka_dedup import log, tables
from kafka_dedup.forensics import duckdb_guard, guard, history, sqltext
from kafka_dedup.forensics.engine import (
    PARAM_RE,
    STATE_VERSIONS,
    Engine,
    EngineError,
    QueryError,
    first_line,
    state_versions_schema,
)
from kafka_dedup.forensics.history import AsOf, Commit
from kafka_dedup.forensics.parquet_source import parquet_source, quote_identifier
from kafka_dedup.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow.dataset as ds

logger = log.get(__name__)

# Spark SQL functions the shared queries use, under their Spark names.
SPARK_COMPAT_MACROS = (
    "CREATE MACRO unix_millis(ts) AS epoch_ms(ts)",
    "CREATE MACRO unix_micros(ts) AS epoch_us(ts)",
    "CREATE MACRO percentile(x, p) AS quantile_cont(x, p)",
)
SIMPLE_TYPES: dict[type[T.DataType], pa.DataType] = {
    T.StringType: pa.string(),
    T.BinaryType: pa.binary(),
    T.BooleanType: pa.bool_(),
    T.ShortType: pa.int16(),
    T.IntegerType: pa.int32(),
    T.LongType: pa.int64(),
    T.FloatType: pa.float32(),
    T.DoubleType: pa.float64(),
    T.DateType: pa.date32(),
    T.TimestampType: pa.timestamp("us", tz="UTC"),  # what deltalake and Spark's toArrow give
}


def arrow_type(spark_type: T.DataType) -> pa.DataType:
    """The Arrow type deltalake reads for a Spark/Delta type."""
    if isinstance(spark_type, T.ArrayType):
        return pa.list_(arrow_type(spark_type.elementType))
    if isinstance(spark_type, T.StructType):
        return pa.struct([arrow_field(f) for f in spark_type.fields])
    if isinstance(spark_type, T.MapType):
        return pa.map_(arrow_type(spark_type.keyType), arrow_type(spark_type.valueType))
    if isinstance(spark_type, T.DecimalType):
        return pa.decimal128(spark_type.precision, spark_type.scale)
    return SIMPLE_TYPES[type(spark_type)]


def arrow_field(field: T.StructField) -> pa.Field:
    return pa.field(field.name, arrow_type(field.dataType), field.nullable)


def to_duckdb_params(sql: str) -> str:
    """Spark names parameters `:name`, DuckDB `$name`; the rest of the shared SQL is the same."""
    masked = sqltext.mask(sql, backslash_escapes=False)
    parts, last = [], 0
    for match in PARAM_RE.finditer(masked):
        parts.append(sql[last : match.start()] + "$" + match.group(1))
        last = match.end()
    return "".join(parts) + sql[last:]


def readable_directories(warehouse: str) -> list[str]:
    """The warehouse as given and as resolved (Delta may report either), each ending in `/`."""
    return sorted({warehouse.rstrip("/") + "/", os.path.realpath(warehouse).rstrip("/") + "/"})


class DuckDBEngine(Engine):
    """In-process DuckDB; each table is a view over a pyarrow dataset of one Delta version."""

    def __init__(self, warehouse: Warehouse, as_of: AsOf | None = None) -> None:
        super().__init__(warehouse, as_of, read_only=True)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")  # like the Spark session: hours in UTC
        for macro in SPARK_COMPAT_MACROS:
            self.con.execute(macro)
        self.con.execute(f"CREATE SCHEMA {self.database}")
        duckdb_guard.sandbox(self.con, readable_directories(self.root))

    def split(self, text: str) -> guard.Split:
        return duckdb_guard.split(text)

    def check(self, statement: str) -> None:
        duckdb_guard.check(statement)

    def _exists(self, name: str) -> bool:
        return bool(DeltaTable.is_deltatable(self.warehouse.location(name)))

    def _read_history(self, name: str) -> list[Commit]:
        return history.read_local_history(self.warehouse.location(name))

    def _publish(self, name: str, source: Any) -> None:
        self.con.register(name, source)
        self._alias(name)

    def _alias(self, name: str) -> None:
        """`kafka_dedup.deliveries` works too, as in the Spark catalog."""
        self.con.execute(f"CREATE OR REPLACE VIEW {self.database}.{name} AS SELECT * FROM {name}")

    def _register(self, name: str, version: int | None, empty: bool) -> None:
        table = DeltaTable(self.warehouse.location(name), version=version)
        deleted_name = f"_deleted_rows_{name}"
        source = None if empty else parquet_source(table, deleted_name)
        if source is not None:
            if source.deleted is not None:
                self.con.register(deleted_name, source.deleted)
            try:
                self.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {source.sql}")
                self._alias(name)
                return
            except duckdb.BinderException as exc:
                # A column of the table's schema that no file of this version holds (added by
                # ALTER TABLE ADD COLUMNS since): deltalake's reader gives it as nulls.
                logger.debug(f"{name}: deltalake reads it ({first_line(exc)})")
        dataset = self._dataset(name, table)
        self._publish(name, dataset.schema.empty_table() if empty else dataset)

    @staticmethod
    def _dataset(name: str, table: DeltaTable, keys: list[str] | None = None) -> ds.Dataset:
        """The version's rows (only those of `keys` when given) as a pyarrow dataset."""
        import pyarrow.dataset as ds  # kept off the cold start of the queries that need none

        try:
            dataset = table.to_pyarrow_dataset()
            if keys is None:
                return dataset
            import pyarrow.compute as pc

            return ds.dataset(dataset.to_table(filter=pc.field("key").isin(keys)))
        except DeltaProtocolError:
            pass  # e.g. deletion vectors: deltalake's own engine applies them
        try:
            predicate = None
            if keys is not None:
                listed = ", ".join("'" + k.replace("'", "''") + "'" for k in keys) or "NULL"
                predicate = f"{quote_identifier('key')} IN ({listed})"
            return ds.dataset(pa.table(table.scan(predicate=predicate)))
        except Exception as exc:
            raise EngineError(
                f"the duckdb engine cannot read table {name}: {first_line(exc)}; use --engine spark"
            ) from None

    def _register_empty(self, name: str, schema: T.StructType) -> None:
        self._publish(name, pa.schema([arrow_field(f) for f in schema.fields]).empty_table())

    def _register_state_versions(self, commits: list[Commit], keys: list[str]) -> None:

        parts = []
        path = self.warehouse.location(tables.ENTITY_STATE)
        table = DeltaTable(path, version=commits[0].version) if commits else None
        for commit in commits:
            assert table is not None
            table.load_as_version(commit.version)
            rows = self._dataset(tables.ENTITY_STATE, table, keys).to_table()
            n = rows.num_rows
            meta = [
                pa.array([commit.version] * n, pa.int64()),
                pa.array([commit.timestamp_ms * 1000] * n, SIMPLE_TYPES[T.TimestampType]),
                pa.array([commit.operation] * n, pa.string()),
            ]
            names = ["version", "committed_at", "operation", *rows.column_names]
            parts.append(pa.Table.from_arrays(meta + rows.columns, names=names))
        if not parts:
            fields = [arrow_field(f) for f in state_versions_schema().fields]
            parts.append(pa.schema(fields).empty_table())
        self.con.register(STATE_VERSIONS, pa.concat_tables(parts, promote_options="permissive"))

    def _execute(self, sql: str) -> None:
        self.con.execute(sql)

    def _fetch(self, sql: str, args: dict[str, Any], max_rows: int | None) -> pa.Table:
        text = to_duckdb_params(sql) if args else sql
        if self.read_only:
            self.check(text)
        try:
            relation = self.con.sql(text, params=args or None)
            if relation is None:
                return pa.table({})
            return (relation if max_rows is None else relation.limit(max_rows)).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(first_line(exc)) from None

    def materialize(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMPORARY TABLE {name} AS {sql}")

    def close(self) -> None:
        self.con.close()
