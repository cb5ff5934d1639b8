"""The nightly run for one date: merge UNMERGED deliveries, classify each source, write, report."""

from __future__ import annotations

from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.config import Config
from kafka_dedup.domain import IDENTITY, LOG_SOURCE, UNMERGEABLE, UNMERGED
from kafka_dedup.errors import UserError
from kafka_dedup.reconcile import judge, remediation, sources, store, unmerged, writer
from kafka_dedup.reconcile.actions import with_run_columns
from kafka_dedup.reconcile.context import Progress, Run, RunResult, read_events
from kafka_dedup.reconcile.judge import BROADCAST_ROWS
from kafka_dedup.reconcile.rule import select_identities
from kafka_dedup.reconcile.settings import Settings, Source
from kafka_dedup.warehouse import Warehouse

WRITTEN = (tables.EVENTS, tables.RECONCILIATION_FINDINGS, tables.RECONCILIATION_RUNS)


class MissingTableError(UserError):
    """A table the run reads is not in the warehouse."""


def _log_findings(run: Run, found_df: DataFrame) -> DataFrame:
    """Findings of the event log itself (UNMERGED, UNMERGEABLE) as rows of this run."""
    return with_run_columns(found_df, run.run_date, LOG_SOURCE, run.partial)


def reconcile_unmerged(run: Run) -> tuple[int, int]:
    """Report and merge valid deliveries absent from events; returns (findings, inserted)."""
    run.progress.step("looking for valid deliveries absent from events (UNMERGED)")
    start = run.day_start - run.settings.late_lookback
    valid_df = unmerged.filter_valid_deliveries(
        run.lake.read(tables.DELIVERIES), start, run.day_end
    )
    unmerged_df = unmerged.find_unmerged(valid_df, read_events(run, start, run.day_end))
    found_df = _log_findings(run, unmerged.to_findings(unmerged_df))
    previous_df = store.read_findings(run.lake, run.run_date)
    if previous_df is not None:  # a re-run keeps what an earlier attempt found and merged
        previous_df = previous_df.where(F.col("finding_type") == UNMERGED)
        identity = list(IDENTITY)
        found_df = previous_df.unionByName(
            found_df.join(previous_df.select(*identity), identity, "left_anti")
        )
    found_df = found_df.localCheckpoint(eager=True)  # the write below replaces what it read
    store.replace_findings(run.lake, found_df, run.run_date, True)
    count = found_df.count()
    if count == 0:
        return 0, 0
    run.progress.step(f"merging {count} UNMERGED events into events and entity_state")
    run.lake.ensure(tables.EVENTS, tables.ENTITY_STATE)
    counts = eventlog.merge_deliveries(
        run.lake.table(tables.EVENTS),
        run.lake.table(tables.ENTITY_STATE),
        unmerged.select_deliveries_of(valid_df, found_df, broadcast=count <= BROADCAST_ROWS),
        domain.MERGED_BY_RECONCILE,
    )
    return count, counts.inserted


def find_unmergeable(run: Run) -> DataFrame:
    """UNMERGEABLE findings: deliveries ingested on the day, older than late_lookback, and
    still absent from events (the run does not merge them, but says so)."""
    older_than = run.day_start - run.settings.late_lookback
    stale_df = unmerged.filter_stale_deliveries(
        run.lake.read(tables.DELIVERIES), run.day_start, run.day_end, older_than
    )
    logged_df = run.lake.read(tables.EVENTS).where(F.col("event_date") <= F.lit(older_than.date()))
    found_df = unmerged.to_findings(
        unmerged.find_unmerged(stale_df, logged_df),
        UNMERGEABLE,
        unmerged.stale_outcome(run.settings.late_lookback),
    )
    return _log_findings(run, found_df)


def _recheck(pending_df: DataFrame | None, source: Source) -> DataFrame | None:
    """The source's events an earlier run left PENDING, as identities to classify again."""
    if pending_df is None:
        return None
    return select_identities(pending_df.where(F.col("source") == source.name), source)


def _preflight(run: Run) -> list[tuple[Source, DataFrame]]:
    """Check the warehouse, the topic and every source's columns before anything is written."""
    if not run.lake.exists(tables.DELIVERIES):
        raise MissingTableError(
            f"no deliveries table at {run.lake.location(tables.DELIVERIES)}: run kafka-dedup "
            "ingest first, or pass the --warehouse it wrote to"
        )
    if run.settings.remediation_topic:
        remediation.check_topic(run.config.kafka.bootstrap_servers, run.settings.remediation_topic)
    read_sources = []
    for source in run.settings.sources:
        raw_df = sources.read_source(run.spark, source)
        sources.check_columns(raw_df, source)
        read_sources.append((source, raw_df))
    run.lake.ensure(*WRITTEN)
    return read_sources


def _judge_sources(run: Run, read_sources: list[tuple[Source, DataFrame]]) -> dict[str, dict]:
    """Classify every source, write the day's findings (all but UNMERGED); their counters."""
    pending_df = store.previous_pending(run.lake, run.run_date)
    if pending_df is not None:
        pending_df = pending_df.localCheckpoint(eager=True)  # this run replaces the table
    per_source = [
        (source, *judge.classify_source(run, source, raw_df, _recheck(pending_df, source)))
        for source, raw_df in read_sources
    ]
    run.progress.step("writing reconciliation_findings")
    all_df = find_unmergeable(run)
    for _, findings_df, _ in per_source:
        all_df = all_df.unionByName(findings_df)
    store.replace_findings(run.lake, all_df, run.run_date, False)
    for _, findings_df, _ in per_source:
        findings_df.unpersist()
    return {source.name: stats for source, _, stats in per_source}


def run_reconcile(
    spark: SparkSession,
    config: Config,
    run_date: date,
    as_of: datetime | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Reconcile one day; writes findings, the run row, the report and remediation messages."""
    run = Run(
        config=config,
        settings=settings or config.reconcile,
        run_date=run_date,
        as_of=as_of or datetime.now(timezone.utc),
        lake=Warehouse.of(config, spark),
        progress=Progress(run_date),
    )
    run.progress.step(f"checking the warehouse and {len(run.settings.sources)} source(s)")
    read_sources = _preflight(run)
    try:
        unmerged_found, inserted = reconcile_unmerged(run)
        stats = _judge_sources(run, read_sources)
        return writer.finish(run, stats, unmerged_found, inserted)
    except Exception as exc:
        writer.record_failure(run, exc)
        raise
