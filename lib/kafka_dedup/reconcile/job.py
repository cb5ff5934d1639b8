"""The nightly run for one date: merge UNMERGED deliveries, classify each source, write, report."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.errors import UserError
from kafka_dedup.ingest.merge import MERGED_BY_RECONCILE, merge_deliveries
from kafka_dedup.reconcile import classify, remediation, sources, store, summary, unmerged
from kafka_dedup.reconcile.context import DAY, Progress, Run, RunResult, read_events
from kafka_dedup.reconcile.settings import ORPHAN, Settings, Source, parse

BROADCAST_ROWS = 1_000_000  # UNMERGED identities small enough to ship to every task


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
    counts = merge_deliveries(
        run.spark,
        run.warehouse,
        run.database,
        unmerged.select_deliveries_of(valid_df, found_df, broadcast=count <= BROADCAST_ROWS),
        MERGED_BY_RECONCILE,
    )
    return count, counts.inserted


def _rest_of_log(run: Run, start: datetime, end: datetime) -> DataFrame:
    """Events of the days not wholly inside [start, end): the classification saw the others."""
    events_df = run.spark.read.format("delta").load(run.path(tables.EVENTS))
    first = start.date() + (DAY if start.time() != datetime.min.time() else timedelta(0))
    last = end.date() - DAY
    if first > last:
        return events_df
    return events_df.where(~F.col("event_date").between(F.lit(first), F.lit(last)))


def _confirm_orphans(findings_df: DataFrame, rest_of_log_df: DataFrame) -> DataFrame:
    """Keep ORPHAN findings whose event_id is nowhere in the log (any date)."""
    is_orphan = F.col("finding_type") == ORPHAN
    # semi and anti joins ignore duplicates on their right side: no distinct() needed
    orphan_ids_df = findings_df.where(is_orphan).select("event_id")
    orphans = orphan_ids_df.count()
    if orphans == 0:
        return findings_df  # nothing to confirm: skip the scan of the rest of the log
    if orphans <= BROADCAST_ROWS:
        # few orphans: look them up while reading the log instead of shuffling the log
        orphan_ids_df = F.broadcast(orphan_ids_df)
    logged_df = rest_of_log_df.select("event_id").join(orphan_ids_df, "event_id", "left_semi")
    confirmed_df = findings_df.where(is_orphan).join(logged_df, "event_id", "left_anti")
    return findings_df.where(~is_orphan).unionByName(confirmed_df)


def classify_source(run: Run, source: Source, raw_df: DataFrame) -> tuple[DataFrame, dict]:
    """One source's findings (persisted) and its counters."""
    run.progress.step(f"classifying {source.name} ({source.format} {source.location()})")
    observation = Observation(f"effects_{source.name}_{run.run_id}")
    normalized_df = sources.normalize_effects(raw_df, source)
    effects_df = normalized_df.observe(
        observation, F.count(F.lit(1)).alias("rows"), F.count("malformed").alias("malformed")
    )
    start, end = run.day_start - run.settings.lookback, run.day_end + run.settings.lookback
    grouped_df = classify.group_by_event(
        read_events(run, start, end),
        sources.filter_effects_window(effects_df, start, end),
        source,
    )
    rule = classify.Rule(source, run.day_start, run.day_end, run.as_of, run.settings.grace)
    classified_df = classify.classify(grouped_df, rule).persist()
    pending = classified_df.where(F.col("finding_type") == classify.PENDING).count()
    metrics = observation.get
    findings_df = _confirm_orphans(
        classified_df.where(F.col("finding_type") != classify.PENDING),
        _rest_of_log(run, start, end),
    )
    findings_df = store.with_run_columns(findings_df, run.run_date, source.name).persist()
    findings_df.count()
    classified_df.unpersist()
    malformed_rows = []
    if metrics.get("malformed"):
        malformed_rows = (
            normalized_df.where(F.col("malformed").isNotNull())
            .select(F.col("malformed").alias("reason"), F.col("row_json").alias("row"))
            .limit(run.settings.top_rows)
            .collect()
        )
    stats = {
        "effects_read": int(metrics.get("rows") or 0),
        "malformed": int(metrics.get("malformed") or 0),
        "pending": pending,
        "malformed_rows": [r.asDict() for r in malformed_rows],
    }
    return findings_df, stats


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
        settings=settings or parse(config.reconcile),
        run_date=run_date,
        as_of=as_of or datetime.now(timezone.utc),
        progress=Progress(run_date, quiet),
    )
    run.progress.step(f"checking the warehouse and {len(run.settings.sources)} source(s)")
    read_sources = _preflight(run)
    try:
        unmerged_found, inserted = reconcile_unmerged(run)
        per_source = [(s, *classify_source(run, s, raw_df)) for s, raw_df in read_sources]
        run.progress.step("writing reconciliation_findings")
        all_df = spark.createDataFrame([], tables.RECONCILIATION_FINDINGS_SCHEMA)
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
