"""The nightly run for one date: merge UNMERGED deliveries, classify each source, write, report."""

from __future__ import annotations

from datetime import date, datetime, timezone

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.config import Config
from kafka_dedup.errors import UserError
from kafka_dedup.reconcile import (
    classify,
    judge,
    remediation,
    sources,
    store,
    summary,
    unmerged,
)
from kafka_dedup.reconcile.context import Progress, Run, RunResult, read_events
from kafka_dedup.reconcile.judge import BROADCAST_ROWS
from kafka_dedup.reconcile.settings import UNMERGEABLE, Settings, Source
from kafka_dedup.warehouse import Warehouse


class MissingTableError(UserError):
    """A table the run reads is not in the warehouse."""


def reconcile_unmerged(run: Run) -> tuple[int, int]:
    """Report and merge valid deliveries absent from events; returns (findings, inserted)."""
    run.progress.step("looking for valid deliveries absent from events (UNMERGED)")
    deliveries_df = run.spark.read.format("delta").load(run.path(tables.DELIVERIES))
    start = run.day_start - run.settings.late_lookback
    valid_df = unmerged.filter_valid_deliveries(deliveries_df, start, run.day_end)
    found_df = store.with_run_columns(
        unmerged.to_findings(
            unmerged.find_unmerged(valid_df, read_events(run, start, run.day_end))
        ),
        run.run_date,
        store.LOG_SOURCE,
        run.partial,
    )
    previous_df = store.read_findings(run.spark, run.warehouse, run.run_date)
    if previous_df is not None:  # a re-run keeps what an earlier attempt found and merged
        previous_df = previous_df.where(F.col("finding_type") == unmerged.UNMERGED)
        found_df = previous_df.unionByName(
            found_df.join(previous_df.select(*unmerged.IDENTITY), unmerged.IDENTITY, "left_anti")
        )
    found_df = found_df.localCheckpoint(eager=True)  # the write below replaces what it read
    store.replace_findings(run.spark, run.warehouse, found_df, run.run_date, True)
    count = found_df.count()
    if count == 0:
        return 0, 0
    run.progress.step(f"merging {count} UNMERGED events into events and entity_state")
    lake = Warehouse(run.warehouse, run.database, run.spark)
    lake.ensure(tables.EVENTS, tables.ENTITY_STATE)
    counts = eventlog.merge_deliveries(
        lake.table(tables.EVENTS),
        lake.table(tables.ENTITY_STATE),
        unmerged.select_deliveries_of(valid_df, found_df, broadcast=count <= BROADCAST_ROWS),
        domain.MERGED_BY_RECONCILE,
    )
    return count, counts.inserted


def find_unmergeable(run: Run) -> DataFrame:
    """UNMERGEABLE findings: deliveries ingested on the day, older than late_lookback, and
    still absent from events (the run does not merge them, but says so)."""
    deliveries_df = run.spark.read.format("delta").load(run.path(tables.DELIVERIES))
    older_than = run.day_start - run.settings.late_lookback
    stale_df = unmerged.filter_stale_deliveries(
        deliveries_df, run.day_start, run.day_end, older_than
    )
    logged_df = run.spark.read.format("delta").load(run.path(tables.EVENTS))
    logged_df = logged_df.where(F.col("event_date") <= F.lit(older_than.date()))
    found_df = unmerged.to_findings(
        unmerged.find_unmerged(stale_df, logged_df),
        UNMERGEABLE,
        unmerged.stale_outcome(run.settings.late_lookback),
    )
    return store.with_run_columns(found_df, run.run_date, store.LOG_SOURCE, run.partial)


def _recheck(pending_df: DataFrame | None, source: Source) -> DataFrame | None:
    """The source's events an earlier run left PENDING, as identities to classify again."""
    if pending_df is None:
        return None
    return pending_df.where(F.col("source") == source.name).select(
        classify.group_key(source, F.col("key")).alias(classify.GROUP_KEY), "event_id"
    )


def _read_sources(run: Run) -> list[tuple[Source, DataFrame]]:
    """Read every source and check its columns before anything is written."""
    read = []
    for source in run.settings.sources:
        raw_df = sources.read_source(run.spark, source)
        sources.check_columns(raw_df, source)
        read.append((source, raw_df))
    return read


def _preflight(run: Run) -> list[tuple[Source, DataFrame]]:
    if not DeltaTable.isDeltaTable(run.spark, run.path(tables.DELIVERIES)):
        raise MissingTableError(
            f"no deliveries table at {run.path(tables.DELIVERIES)}: run kafka-dedup ingest "
            "first, or pass the --warehouse it wrote to"
        )
    if run.settings.remediation_topic:
        remediation.check_topic(run.config.kafka.bootstrap_servers, run.settings.remediation_topic)
    read_sources = _read_sources(run)
    store.ensure_tables(run.spark, run.warehouse, run.database)
    return read_sources


def run_reconcile(
    spark: SparkSession,
    config: Config,
    run_date: date,
    as_of: datetime | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
) -> RunResult:
    """Reconcile one day; writes findings, the run row, the report and remediation messages."""
    run = Run(
        spark=spark,
        config=config,
        settings=settings or config.reconcile,
        run_date=run_date,
        as_of=as_of or datetime.now(timezone.utc),
        progress=Progress(run_date, quiet),
    )
    run.progress.step(f"checking the warehouse and {len(run.settings.sources)} source(s)")
    read_sources = _preflight(run)
    try:
        unmerged_found, inserted = reconcile_unmerged(run)
        pending_df = store.previous_pending(spark, run.warehouse, run_date)
        if pending_df is not None:
            pending_df = pending_df.localCheckpoint(eager=True)  # this run replaces the table
        per_source = [
            (s, *judge.classify_source(run, s, raw_df, _recheck(pending_df, s)))
            for s, raw_df in read_sources
        ]
        run.progress.step("writing reconciliation_findings")
        all_df = find_unmergeable(run)
        for _, findings_df, _ in per_source:
            all_df = all_df.unionByName(findings_df)
        store.replace_findings(spark, run.warehouse, all_df, run_date, False)
        for _, findings_df, _ in per_source:
            findings_df.unpersist()
        stats = {s.name: st for s, _, st in per_source}
        return summary.finish(run, stats, unmerged_found, inserted)
    except Exception as exc:
        summary.record_failure(run, exc)
        raise
