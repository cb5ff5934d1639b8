"""The warehouse: where each contract table lives, and how it is read, opened and created.

Jobs build one Warehouse at their edge and hand DataFrames and DeltaTables to the library.
Without a Spark session it still answers locations (the DuckDB engine needs only those).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from kafka_dedup import conflicts, tables
from kafka_dedup.paths import absolute

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

    from kafka_dedup.config import Config


class Warehouse:
    """The contract tables under one root folder or URI, registered in one database."""

    def __init__(self, root: str, database: str, spark: SparkSession | None = None) -> None:
        self.root = absolute(root).rstrip("/")
        self.database = database
        self._spark = spark

    @classmethod
    def of(cls, config: Config, spark: SparkSession | None = None) -> Warehouse:
        """The warehouse the config names (storage.warehouse, storage.database)."""
        return cls(config.storage.warehouse, config.storage.database, spark)

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            raise RuntimeError("this Warehouse has no Spark session: it only knows locations")
        return self._spark

    def location(self, name: str) -> str:
        """`<root>/<name>`: the on-disk (or S3) path of a table."""
        return f"{self.root}/{name}"

    def qualified(self, name: str) -> str:
        """`<database>.<name>`: the table's catalog name."""
        return f"{self.database}.{name}"

    def exists(self, name: str) -> bool:
        """True once the table has its first commit."""
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(self.spark, self.location(name)))

    def table(self, name: str) -> DeltaTable:
        """The Delta table, for MERGEs and history."""
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self.location(name))

    def read(self, name: str, version: int | None = None) -> DataFrame:
        """The table as a DataFrame (at `version` when given)."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.location(name))

    def ensure(self, *names: str) -> None:
        """Create each table at its location if missing and register it, before any write.

        Two jobs starting on a fresh warehouse at once (an ingest beside a reconcile, a retry
        beside the first attempt) both find a table missing and both create it; the loser's
        commit fails with ProtocolChangedException, and is run again: it then finds the table.
        """
        for name in names:
            conflicts.retrying(functools.partial(self._create_or_upgrade, name), f"creating {name}")
            self.register(name)

    def _create_or_upgrade(self, name: str) -> None:
        from delta.tables import DeltaTable

        path = self.location(name)
        if DeltaTable.isDeltaTable(self.spark, path):
            self._upgrade(name, path)
            return
        # createIfNotExists on an existing table would read and compare its schema
        builder = DeltaTable.createIfNotExists(self.spark).location(path)
        builder = builder.addColumns(tables.SCHEMAS[name])
        if name in tables.PARTITIONING:
            builder = builder.partitionedBy(*tables.PARTITIONING[name])
        if name in tables.STATS_COLUMNS:
            stats = ",".join(tables.STATS_COLUMNS[name])
            builder = builder.property("delta.dataSkippingStatsColumns", stats)
        for key, value in tables.PROPERTIES.get(name, {}).items():
            builder = builder.property(key, value)
        builder.execute()

    def _upgrade(self, name: str, path: str) -> None:
        """Add the table properties a table created by an earlier version lacks (once)."""
        wanted = tables.PROPERTIES.get(name, {})
        if not wanted:
            return
        detail = self.spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
        current = dict(detail["properties"] or {}) if detail is not None else {}
        missing = {k: v for k, v in wanted.items() if current.get(k, "").lower() != v}
        if missing:
            pairs = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            self.spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({pairs})")

    def register(self, name: str) -> None:
        """Point `<database>.<name>` at the table's path (external: dropping it keeps the data)."""
        spark, qualified, path = self.spark, self.qualified(name), self.location(name)
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        if spark.catalog.tableExists(qualified):
            current = spark.sql(f"DESCRIBE DETAIL {qualified}").first()
            if current is not None and current["location"].rstrip("/").endswith(path):
                return
            spark.sql(f"DROP TABLE {qualified}")
        # IF NOT EXISTS: another thread of this session may register it first
        spark.sql(f"CREATE TABLE IF NOT EXISTS {qualified} USING delta LOCATION '{path}'")

    def register_all(self) -> list[str]:
        """Register every contract table present under the root; returns their names.

        The catalog is rebuilt from the warehouse folder at each start instead of living in a
        Derby metastore, so several processes (ingest, sql, reconcile) can use it at once.
        """
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database} LOCATION '{self.root}'")
        present = [name for name in tables.ALL_TABLES if self.exists(name)]
        for name in present:
            self.register(name)
        return present
