"""Pick and open an engine: DuckDB for local warehouses, Spark for S3, large tables and writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_dedup.config import Config
from kafka_dedup.forensics.engine import Engine, EngineError
from kafka_dedup.forensics.history import AsOf
from kafka_dedup.paths import is_remote
from kafka_dedup.session import build_session
from kafka_dedup.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("auto", "spark", "duckdb")


def pick_engine(requested: str, warehouse: str, allow_write: bool = False) -> str:
    """`auto` means DuckDB on local disk (fast start) and Spark on S3 or when writing."""
    if requested not in ENGINES:
        raise EngineError(f"unknown engine {requested!r}; choose one of {', '.join(ENGINES)}")
    if requested == "duckdb" and allow_write:
        raise EngineError(
            "--allow-write needs --engine spark: DuckDB reads the Delta tables but cannot write"
        )
    if requested == "duckdb" and is_remote(warehouse):
        raise EngineError(
            f"the duckdb engine reads local warehouses only; use --engine spark for {warehouse}"
        )
    if requested == "auto":
        return "spark" if allow_write or is_remote(warehouse) else "duckdb"
    return requested


def open_engine(
    config: Config,
    requested: str = "auto",
    as_of: AsOf | None = None,
    allow_write: bool = False,
    spark: SparkSession | None = None,
) -> Engine:
    """An opened engine over config.storage.warehouse; builds a Spark session only if needed."""
    warehouse = Warehouse.of(config)  # locations only: DuckDB needs no Spark session
    engine: Engine
    if pick_engine(requested, warehouse.root, allow_write) == "duckdb":
        from kafka_dedup.forensics.duckdb_engine import DuckDBEngine

        engine = DuckDBEngine(warehouse, as_of)
    else:
        from kafka_dedup.forensics.spark_engine import SparkEngine

        owns = False
        if spark is None:
            from pyspark import SparkContext

            # stop the session at close only if this call started it (not under
            # spark-submit or in tests)
            owns = SparkContext._active_spark_context is None
            spark = build_session(config)
        engine = SparkEngine(spark, warehouse, as_of, owns_session=owns, read_only=not allow_write)
    try:
        return engine.open()
    except BaseException:
        engine.close()
        raise
