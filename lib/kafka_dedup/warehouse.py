"""The warehouse: where each contract table lives, and how it is read, opened and created.

Jobs build one Warehouse at their edge and hand DataFrames and DeltaTables to the library.
Without a Spark session it still answers locations (the DuckDB engine needs only those).
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING

from kafka_dedup import conflicts, log, storage, tables
from kafka_dedup.errors import UserError
from kafka_dedup.paths import absolute

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

    from kafka_dedup.config import Config

logger = log.get(__name__)

LOG_FOLDER = "_delta_log"
FIRST_COMMIT = f"{0:020d}.json"  # version 0's commit, until the log's clean-up removes it
# A commit or checkpoint file: once one is in the log folder the table exists
COMMITTED = re.compile(r"^\d{20}\.(json|checkpoint)")
# How long a job waits for another job's first commit of a table before it takes a log folder
# without one for what a killed creation left behind
CREATION_WAIT_S = 10.0
CREATION_POLL_S = 0.2


def _has_commit(log_entries: list[str]) -> bool:
    """True when a log folder's entries hold a commit or a checkpoint."""
    return any(COMMITTED.match(entry) for entry in log_entries)


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
        """True once the table has its first commit.

        Read from the log folder each time: Delta's own check answers from the snapshot it
        cached when it first looked, so it misses a table another process has created since.
        Version 0's commit or the checkpoint pointer answers at once; only a log that has
        neither (its early commits cleaned up, no pointer) is listed."""
        log_folder = f"{self.location(name)}/{LOG_FOLDER}"
        if storage.exists(self.spark, f"{log_folder}/{FIRST_COMMIT}"):
            return True
        if storage.exists(self.spark, f"{log_folder}/{storage.LAST_CHECKPOINT}"):
            return True
        return _has_commit(storage.names(self.spark, log_folder))

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
        beside the first attempt) both find a table missing and both create it. The loser
        either fails its commit with ProtocolChangedException and is run again, or meets the
        winner's log folder before its first commit and waits for that commit.
        """
        for name in names:
            conflicts.retrying(functools.partial(self._create_or_upgrade, name), f"creating {name}")
            self.register(name)

    def _create_or_upgrade(self, name: str) -> None:
        path = self.location(name)
        if not self.exists(name):
            try:
                self._create(name, path)
            except Exception as exc:
                if conflicts.is_conflict(exc):
                    raise
                self._after_failed_create(name, path, exc)
            else:
                return  # created with every property: nothing to upgrade
        self._upgrade(name, path)

    def _create(self, name: str, path: str) -> None:
        from delta.tables import DeltaTable

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

    def _after_failed_create(self, name: str, path: str, exc: Exception) -> None:
        """Go on when the creation failed because another job is creating the table, or a killed
        one left its log folder without a commit; raise anything else.

        Delta refuses to create a table where a log folder exists without a commit (the folder
        is made just before the first commit is written), so a job that meets another's creation
        in flight fails: it waits for that commit. A folder that stays without one for
        CREATION_WAIT_S is what a job killed in that moment left; it holds no data and is removed.
        """
        if self.exists(name):  # the other job committed between our check and our commit
            return
        entries = storage.names(self.spark, path)
        if LOG_FOLDER not in entries:
            if entries:
                raise UserError(
                    f"{path} holds files but no Delta table ({', '.join(sorted(entries)[:3])}): "
                    "move them away or set storage.warehouse to another folder"
                ) from exc
            raise exc
        deadline = time.monotonic() + CREATION_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(CREATION_POLL_S)
            if self.exists(name):
                return
        log_entries = storage.names(self.spark, f"{path}/{LOG_FOLDER}")
        if _has_commit(log_entries):  # a commit since the last look: leave the folder alone
            raise exc
        logger.warning(
            "%s: removing the log folder a killed creation left without a commit (%d files)",
            name,
            len(log_entries),
        )
        storage.delete(self.spark, f"{path}/{LOG_FOLDER}")
        self._create(name, path)

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
