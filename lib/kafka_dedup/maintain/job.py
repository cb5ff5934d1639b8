"""`kafka-dedup maintain`: per table, compact, keep the retention, VACUUM, then check reads."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import log, storage, tables
from kafka_dedup.config import Config, duration_seconds
from kafka_dedup.ingest import lock
from kafka_dedup.ingest.streams import EVENTS_QUERY, checkpoint
from kafka_dedup.maintain import policy
from kafka_dedup.maintain.retry import with_retries
from kafka_dedup.warehouse import Warehouse

logger = log.get(__name__)
JOB_GROUP = "kafka-dedup-maintain"
LISTING_TASKS_PER_CORE = 4


@dataclass
class TableReport:
    """What maintenance did to one table and what it checked afterwards."""

    table: str
    scope: str = ""
    version_before: int = -1
    version_after: int = -1
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    files_compacted: int = 0  # removed from the current version by the compaction
    files_written: int = 0
    vacuum_hours: float = 0.0
    files_vacuumed: int = 0  # deleted from storage (older than the retention)
    properties_raised: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    checkpoint_version: int | None = None
    checkpoint_files: list[str] = field(default_factory=list)
    rows: int = 0  # at version_after
    window_version: int | None = None  # the oldest version inside the retention window
    window_rows: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MaintainResult:
    ingest_live: bool
    dry_run: bool
    retention: str
    tables: list[TableReport]


@contextlib.contextmanager
def ingest_lease(config: Config) -> Iterator[bool]:
    """Hold the ingest checkpoints' lease when free (True): no ingest can start meanwhile, so
    MERGE-written tables may be compacted whole. False while an ingest run holds it."""
    at_once = dataclasses.replace(config.ingest, lock_wait="0 seconds")
    no_wait = dataclasses.replace(config, ingest=at_once)
    try:
        with lock.hold(no_wait, f"maintain-{uuid.uuid4().hex[:8]}", on_lost=lambda: None):
            yield False
    except lock.LockHeldError as held:
        logger.info(f"ingest is running ({held}); compacting only what it cannot conflict with")
        yield True


def _detail(lake: Warehouse, name: str) -> tuple[int, int, dict[str, str]]:
    row = lake.spark.sql(f"DESCRIBE DETAIL delta.`{lake.location(name)}`").first()
    assert row is not None
    return int(row["numFiles"]), int(row["sizeInBytes"]), dict(row["properties"] or {})


def _version(lake: Warehouse, name: str) -> int:
    return int(lake.table(name).history(1).first()["version"])  # type: ignore[index]


def _compact(lake: Warehouse, name: str, scope: policy.Scope, attempt: int) -> tuple[int, int]:
    """OPTIMIZE (bin-packing) of the scope; (files removed, files added). Its Spark jobs run in
    the job group <JOB_GROUP>-<table>-<attempt> (the Spark UI shows which table and attempt)."""
    # SQL rather than DeltaTable.optimize(): spark.sql gives Delta's conflicts as PySpark
    # errors that name their error class
    where = f" WHERE {scope.where}" if scope.where else ""
    statement = f"OPTIMIZE delta.`{lake.location(name)}`{where}"
    context = lake.spark.sparkContext
    context.setJobGroup(f"{JOB_GROUP}-{name}-{attempt}", f"kafka-dedup maintain: compact {name}")
    try:
        metrics = lake.spark.sql(statement).select("metrics.*").first()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        context.setJobDescription(None)  # type: ignore[arg-type]
    if metrics is None:
        return 0, 0
    return int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])


def _in_scope(lake: Warehouse, name: str, scope: policy.Scope) -> int:
    table_df = lake.read(name)
    return len((table_df.where(scope.where) if scope.where else table_df).inputFiles())


@contextlib.contextmanager
def _listing_parallelism(spark: SparkSession) -> Iterator[None]:
    """VACUUM lists the table's folders in a Spark job of
    spark.sql.sources.parallelPartitionDiscovery.parallelism tasks (10000 by default): on a
    few cores that job, not the deletes, would take most of the run."""
    key = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
    before = spark.conf.get(key)
    spark.conf.set(key, str(max(spark.sparkContext.defaultParallelism, 1) * LISTING_TASKS_PER_CORE))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _vacuum(lake: Warehouse, name: str, hours: float, dry_run: bool) -> int:
    """Files VACUUM deletes (or would): unreferenced for longer than `hours`."""
    path = lake.location(name)
    with _listing_parallelism(lake.spark):
        listed = lake.spark.sql(f"VACUUM delta.`{path}` RETAIN {hours:g} HOURS DRY RUN").count()
        if not dry_run and listed:
            lake.table(name).vacuum(hours)
    return listed


def _window_version(lake: Warehouse, name: str, retention_s: float) -> int | None:
    """The oldest version committed inside the retention window (forensics may read it)."""
    since = datetime.now(timezone.utc) - timedelta(seconds=retention_s)
    inside = (
        lake.table(name)
        .history()
        .where(F.col("timestamp") >= F.lit(since.replace(tzinfo=None)))
        .agg(F.min("version").alias("version"))
        .first()
    )
    return None if inside is None or inside["version"] is None else int(inside["version"])


def _verify(lake: Warehouse, report: TableReport, retention_s: float) -> None:
    """The latest checkpoint file is there, and the table reads now and inside the window."""
    path = lake.location(report.table)
    report.checkpoint_version, report.checkpoint_files = storage.latest_checkpoint(lake.spark, path)
    if report.checkpoint_version is not None and not report.checkpoint_files:
        raise RuntimeError(
            f"{report.table}: _last_checkpoint names version {report.checkpoint_version} "
            "but its checkpoint file is missing"
        )
    report.rows = lake.read(report.table, report.version_after).count()  # a live ingest goes on
    report.window_version = _window_version(lake, report.table, retention_s)
    if report.window_version is not None:
        report.window_rows = lake.read(report.table, report.window_version).count()


def maintain_table(
    lake: Warehouse, config: Config, name: str, ingest_live: bool, dry_run: bool
) -> TableReport:
    """Compact what the live ingest allows, raise retentions, VACUUM, verify."""
    settings = config.maintain
    retention_s = duration_seconds(settings.retention)
    backoff_s = duration_seconds(settings.retry_backoff)
    report = TableReport(name)
    report.files_before, report.bytes_before, properties = _detail(lake, name)
    report.version_before = _version(lake, name)
    watermark = storage.stream_watermark_ms(lake.spark, checkpoint(config, EVENTS_QUERY))
    scope = policy.compaction_scope(name, ingest_live, watermark)
    report.scope = scope.describe()

    def retried(step: str, action):  # noqa: ANN001, ANN202
        return with_retries(action, name, step, settings.max_retries, backoff_s, report.conflicts)

    if dry_run:
        if not scope.skip:
            report.notes.append(f"{_in_scope(lake, name, scope)} files in the compaction scope")
    elif not scope.skip:
        report.files_compacted, report.files_written = retried(
            "compaction", lambda attempt: _compact(lake, name, scope, attempt)
        )
    raise_props = policy.properties_to_raise(properties, retention_s)
    if raise_props and (ingest_live or dry_run):
        report.notes.append(
            f"{', '.join(raise_props)} shorter than {settings.retention}: "
            + ("would raise" if dry_run else "raised by a run without a live ingest")
        )
    elif raise_props:
        assignments = ", ".join(f"'{k}' = '{v}'" for k, v in raise_props.items())
        sql = f"ALTER TABLE delta.`{lake.location(name)}` SET TBLPROPERTIES ({assignments})"
        retried("retention properties", lambda _: lake.spark.sql(sql))
        report.properties_raised = raise_props
        properties = {**properties, **raise_props}
    report.vacuum_hours = policy.vacuum_hours(properties, retention_s)
    report.files_vacuumed = _vacuum(lake, name, report.vacuum_hours, dry_run)
    report.files_after, report.bytes_after, _ = _detail(lake, name)
    report.version_after = _version(lake, name)
    _verify(lake, report, retention_s)
    return report


def run_maintain(spark: SparkSession, config: Config, dry_run: bool = False) -> MaintainResult:
    """Maintain every present table (or maintain.tables), one after the other."""
    lake = Warehouse.of(config, spark)
    wanted = config.maintain.tables or tables.ALL_TABLES
    reports = []
    with ingest_lease(config) as ingest_live:
        for name in wanted:
            if not lake.exists(name):
                logger.info(f"{name}: not in {lake.root}; nothing to maintain")
                continue
            logger.info(f"{name}: maintaining")
            reports.append(maintain_table(lake, config, name, ingest_live, dry_run))
    return MaintainResult(ingest_live, dry_run, config.maintain.retention, reports)
