"""Spark over the Delta tables: the engine for S3 warehouses, large tables and writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce
from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.logger import PySparkLogger
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kafka_dedup import tables
from kafka_dedup.forensics import guard, spark_guard
from kafka_dedup.forensics.engine import (
    STATE_VERSIONS,
    Engine,
    QueryError,
    first_line,
    state_versions_schema,
)
from kafka_dedup.forensics.history import AsOf, Commit
from kafka_dedup.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

QUERY_ERROR_LOGGER = "SQLQueryContextLogger"


@contextmanager
def quiet_query_errors() -> Iterator[None]:
    """PySpark logs each failing SQL statement as a JSON line on stderr; run() reports it."""
    logger = PySparkLogger.getLogger(QUERY_ERROR_LOGGER)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class SparkEngine(Engine):
    """Temp views over each table's Delta path (pinned to a version under as-of)."""

    def __init__(
        self,
        spark: SparkSession,
        warehouse: Warehouse,
        as_of: AsOf | None = None,
        owns_session: bool = False,
        read_only: bool = True,
    ) -> None:
        # A sibling session: its own temp views and settings, same JVM, catalog and cache.
        self.spark = spark.newSession()
        super().__init__(
            Warehouse(warehouse.root, warehouse.database, self.spark), as_of, read_only
        )
        self._parent = spark
        self._owns_session = owns_session
        if read_only:
            for key, value in spark_guard.NO_FILE_QUERIES.items():
                self.spark.conf.set(key, value)
        self.guard = spark_guard.SparkGuard(self.spark, self.root)
        self._cached: list[DataFrame] = []

    def split(self, text: str) -> guard.Split:
        return self.guard.split(text)

    def check(self, statement: str) -> None:
        self.guard.check(statement)

    def _exists(self, name: str) -> bool:
        return self.warehouse.exists(name)

    def _read_history(self, name: str) -> list[Commit]:
        rows = (
            self.warehouse.table(name)
            .history()
            .select("version", F.unix_millis("timestamp").alias("ms"), "operation")
            .collect()
        )
        return sorted(
            (Commit(r.version, r.ms, r.operation or "") for r in rows), key=lambda c: c.version
        )

    def _register(self, name: str, version: int | None, empty: bool) -> None:
        table_df = self.warehouse.read(name, version)
        (table_df.limit(0) if empty else table_df).createOrReplaceTempView(name)

    def _register_empty(self, name: str, schema: T.StructType) -> None:
        self.spark.createDataFrame([], schema).createOrReplaceTempView(name)

    def _register_state_versions(self, commits: list[Commit], keys: list[str]) -> None:
        frames = [
            self.warehouse.read(tables.ENTITY_STATE, c.version)
            .where(F.col("key").isin(keys))
            .select(
                F.lit(c.version).cast("bigint").alias("version"),
                F.timestamp_millis(F.lit(c.timestamp_ms)).alias("committed_at"),
                F.lit(c.operation).alias("operation"),
                "*",
            )
            for c in commits
        ]
        if frames:
            versions_df = reduce(DataFrame.unionByName, frames)
        else:
            versions_df = self.spark.createDataFrame([], state_versions_schema())
        versions_df.createOrReplaceTempView(STATE_VERSIONS)

    def _execute(self, sql: str) -> None:
        self.spark.sql(sql)

    def _fetch(self, sql: str, args: dict[str, Any], max_rows: int | None) -> pa.Table:
        if self.read_only:
            self.check(sql)
        try:
            with quiet_query_errors():
                result_df = self.spark.sql(sql, args=args or None)
                if self.read_only:
                    self.guard.check_reads(result_df._jdf.queryExecution().analyzed())
                return (result_df if max_rows is None else result_df.limit(max_rows)).toArrow()
        except (PySparkException, Py4JError) as exc:
            raise QueryError(first_line(exc)) from None

    def materialize(self, name: str, sql: str) -> None:
        cached_df = self.spark.sql(sql).cache()
        self._cached.append(cached_df)
        cached_df.createOrReplaceTempView(name)

    def close(self) -> None:
        for cached_df in self._cached:
            cached_df.unpersist()
        self._cached.clear()
        if self._owns_session:
            self._parent.stop()
