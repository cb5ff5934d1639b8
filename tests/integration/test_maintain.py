"""`maintain` beside a live interval-trigger ingest: nothing lost, files compacted, time travel
and the log checkpoint kept, and a real Delta commit conflict retried (then bounded)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import lock
from kafka_dedup.ingest.job import IngestResult, run_ingest
from kafka_dedup.ingest.streams import INGEST_TABLES
from kafka_dedup.kafka import publish, simulator
from kafka_dedup.maintain.job import JOB_GROUP, MaintainResult, TableReport, run_maintain
from kafka_dedup.maintain.retry import ConflictError
from kafka_dedup.warehouse import Warehouse
from tests.integration.ingest_helpers import expected_events, expected_state, ingest_config, read

EVENTS = 80
SEED = 20261202
# the stream's event times cross midnight: events gets two event_date partitions
START = datetime(2026, 11, 30, 21, 0, tzinfo=timezone.utc)
PER_TRIGGER = 12  # small batches: many small files and commits
CHECKPOINT_INTERVAL = 3  # Delta's default is 10 commits: a log checkpoint after fewer batches
MAINTAINED = (tables.DELIVERIES, tables.EVENTS, tables.ENTITY_STATE)
DAYS = [date(2026, 11, day) for day in range(1, 31)]
CONFLICT_FILES = 120  # one-row files, 4 per day: a compaction with something to rewrite per day
# one day's files after the other (Delta compacts partitions on 15 threads by default): a
# compaction of 30 days long enough for a DELETE to commit inside it
OPTIMIZE_THREADS = "spark.databricks.delta.optimize.maxThreads"
DELETE_CONFLICTS = {"ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException"}
WAIT_S = 600.0  # a loaded machine runs batches slowly: a bound, not the runtime


@dataclass
class Run:
    config: Config
    stream: simulator.Stream
    coordinates: publish.Coordinates
    ingest: IngestResult
    live: MaintainResult  # maintain while the ingest ran
    idle: MaintainResult  # maintain after it stopped
    before: dict[int, int]  # deliveries version -> rows, read before maintain
    tombstoned: list[str]  # data files of `before`'s versions that the compaction removed


def by_table(result: MaintainResult) -> dict[str, TableReport]:
    return {report.table: report for report in result.tables}


def _ingest_in_thread(
    spark: SparkSession, config: Config, stop: threading.Event, out: dict[str, Any]
) -> threading.Thread:
    """run_ingest holding the checkpoints' lease, exactly as `kafka-dedup ingest` does."""

    def target() -> None:
        try:
            with lock.hold(config, "maintain-test", on_lost=stop.set):
                out["result"] = run_ingest(spark, config, stop, run_id="maintain-test")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _version(lake: Warehouse, name: str) -> int:
    return int(lake.table(name).history(1).first()["version"])  # type: ignore[index]


def _caught_up(spark: SparkSession, config: Config, stream: simulator.Stream) -> bool:
    events = {(r.key, r.event_id) for r in read(spark, config, tables.EVENTS)}
    return events == expected_events(stream, include_late=False)


@pytest.fixture(scope="module")
def run(spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("maintain")
    topic = "orders-maintain"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=2)
    stream = simulator.generate(EVENTS, SEED, start=START)
    config = ingest_config(
        base_config, root, kafka_bootstrap, topic, max_offsets_per_trigger=PER_TRIGGER
    )
    config = dataclasses.replace(
        config,
        ingest=dataclasses.replace(config.ingest, trigger="1 second"),
        maintain=dataclasses.replace(config.maintain, tables=MAINTAINED),
    )
    coordinates = publish.publish(stream, kafka_bootstrap, topic, (simulator.MAIN,))
    lake = Warehouse.of(config, spark)
    lake.ensure(*INGEST_TABLES)
    spark.sql(
        f"ALTER TABLE delta.`{lake.location(tables.DELIVERIES)}` "
        f"SET TBLPROPERTIES ('delta.checkpointInterval' = '{CHECKPOINT_INTERVAL}')"
    )
    stop, out = threading.Event(), {}
    thread = _ingest_in_thread(spark, config, stop, out)
    try:
        # v0 create, v1 the interval, then one append per batch: a log checkpoint at v6
        _wait(lambda: _version(lake, tables.DELIVERIES) >= 7, "deliveries version 7")
        before = {v: lake.read(tables.DELIVERIES, v).count() for v in (3, 5)}
        files_before = set(lake.read(tables.DELIVERIES).inputFiles())
        live = run_maintain(spark, config)
        assert thread.is_alive() and "error" not in out, out  # maintained beside the stream
        _wait(lambda: _caught_up(spark, config, stream), "the ingest to catch up")
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
    assert "error" not in out, out["error"]
    files_after = set(lake.read(tables.DELIVERIES).inputFiles())
    idle = run_maintain(spark, config)
    return Run(
        config, stream, coordinates, out["result"], live, idle, before,
        sorted(files_before - files_after),
    )  # fmt: skip


def test_ingest_and_maintain_both_finish_with_every_row(spark: SparkSession, run: Run) -> None:
    assert run.ingest.stopped_by_signal  # stopped by the test, not by a failure
    rows = read(spark, run.config, tables.DELIVERIES)
    seen = Counter((r.topic, r.partition, r.offset) for r in rows)
    assert set(seen.values()) == {1}
    assert set(seen) == set(run.coordinates.values())
    events = Counter((r.key, r.event_id) for r in read(spark, run.config, tables.EVENTS))
    assert set(events.values()) == {1}
    assert set(events) == expected_events(run.stream, include_late=False)
    state = {r.key: (r.event_id, r.sequence) for r in read(spark, run.config, tables.ENTITY_STATE)}
    assert state == expected_state(run.stream, include_late=False)


def test_live_maintain_compacts_only_what_the_stream_cannot_conflict_with(run: Run) -> None:
    assert run.live.ingest_live and not run.idle.ingest_live
    live = by_table(run.live)
    deliveries = live[tables.DELIVERIES]
    assert deliveries.scope == "whole table"
    # many small appends became fewer files, in one OPTIMIZE commit
    assert deliveries.files_compacted >= 5 > deliveries.files_written >= 1
    assert live[tables.ENTITY_STATE].scope.startswith("skipped: every batch")
    assert live[tables.ENTITY_STATE].files_compacted == 0
    assert live[tables.EVENTS].scope.startswith(("where event_date < DATE'", "skipped: "))
    assert all(not report.conflicts for report in run.live.tables)


def test_maintain_without_ingest_compacts_the_merged_tables(run: Run) -> None:
    idle = by_table(run.idle)
    for name in (tables.ENTITY_STATE, tables.EVENTS):
        assert idle[name].scope == "whole table"
    state = idle[tables.ENTITY_STATE]
    assert state.files_before > 1 and state.files_after == 1
    assert state.files_compacted == state.files_before
    events = idle[tables.EVENTS]
    assert events.files_after == 2  # one file per event_date partition


def test_time_travel_inside_the_window_and_the_log_checkpoint_are_kept(
    spark: SparkSession, run: Run
) -> None:
    lake = Warehouse.of(run.config, spark)
    # the versions read before maintenance read the same after both runs
    assert {v: lake.read(tables.DELIVERIES, v).count() for v in run.before} == run.before
    # the compaction's removed files stay on disk for them: VACUUM keeps 7 days
    assert run.tombstoned and all(Path(file.removeprefix("file:")).is_file()
                                  for file in run.tombstoned)  # fmt: skip
    for report in (*run.live.tables, *run.idle.tables):
        assert report.files_vacuumed == 0 and report.vacuum_hours == 7 * 24
        assert report.window_version == 0 and report.window_rows == 0  # CREATE TABLE
        assert report.rows == lake.read(report.table, report.version_after).count()
    deliveries = by_table(run.idle)[tables.DELIVERIES]
    assert deliveries.checkpoint_version is not None and deliveries.checkpoint_version >= 6
    log_dir = Path(lake.location(tables.DELIVERIES)) / "_delta_log"
    assert deliveries.checkpoint_files
    assert all((log_dir / name).is_file() for name in deliveries.checkpoint_files)


@pytest.fixture
def one_optimize_thread(spark: SparkSession) -> Iterator[None]:
    before = spark.conf.get(OPTIMIZE_THREADS, None)
    spark.conf.set(OPTIMIZE_THREADS, "1")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(OPTIMIZE_THREADS)
        else:
            spark.conf.set(OPTIMIZE_THREADS, before)


def _small_table(spark: SparkSession, root: Path) -> Warehouse:
    """reconciliation_findings (partitioned by run_date) made of one-row files, in one commit."""
    lake = Warehouse(str(root / "warehouse"), "t_" + root.name.replace("-", "_")[-30:], spark)
    lake.ensure(tables.RECONCILIATION_FINDINGS)
    rows = [
        [DAYS[n % len(DAYS)], "payments", "MISSING", f"e-{n}", "k", None, None, 0, [], None,
         None, None, "replay", "test", None, False]
        for n in range(CONFLICT_FILES)
    ]  # fmt: skip
    (
        spark.createDataFrame(rows, tables.RECONCILIATION_FINDINGS_SCHEMA)
        .coalesce(1)
        .write.format("delta")
        .mode("append")
        .option("maxRecordsPerFile", 1)  # one small file per row
        .save(lake.location(tables.RECONCILIATION_FINDINGS))
    )
    return lake


class DeletingWriter:
    """A second writer: from when compaction attempt 0 of reconciliation_findings starts its
    Spark jobs until attempt 1 does, DELETE one run_date partition after the other (a
    metadata-only delete: quick enough to land inside the compaction). A file removed between
    the compaction's read and its commit is a conflict Delta's own OPTIMIZE retry does not
    absorb: it retries a commit only while every compacted file is still in the table."""

    def __init__(self, spark: SparkSession, lake: Warehouse, stop_at_attempt: int) -> None:
        self.spark, self.location = spark, lake.location(tables.RECONCILIATION_FINDINGS)
        self.stop_at_attempt = stop_at_attempt
        self.deleted: list[date] = []
        self.done = threading.Event()
        self.earlier = {attempt: self._jobs(attempt) for attempt in (0, stop_at_attempt)}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _jobs(self, attempt: int) -> set[int]:
        group = f"{JOB_GROUP}-{tables.RECONCILIATION_FINDINGS}-{attempt}"
        return set(self.spark.sparkContext.statusTracker().getJobIdsForGroup(group))

    def _started(self, attempt: int) -> bool:
        """Jobs of the attempt that an earlier test's maintenance did not run."""
        return bool(self._jobs(attempt) - self.earlier[attempt])

    def _run(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not self._started(0):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        for day in DAYS[:-1]:  # the last day stays: attempt 1 has something to compact
            if self.done.is_set() or self._started(self.stop_at_attempt):
                return
            self.spark.sql(f"DELETE FROM delta.`{self.location}` WHERE run_date = DATE'{day}'")
            self.deleted.append(day)

    def stop(self) -> None:
        """Stop deleting (the maintenance run is over) and wait for the DELETE in flight."""
        self.done.set()
        self.thread.join(timeout=WAIT_S)


def _maintain_config(lake: Warehouse, root: Path, max_retries: int) -> Config:
    from kafka_dedup import config as config_mod

    return config_mod.load(
        environ={},
        flags={
            "storage": {"warehouse": lake.root, "checkpoints": str(root / "checkpoints"),
                        "database": lake.database},
            "maintain": {"tables": tables.RECONCILIATION_FINDINGS, "max_retries": max_retries,
                         "retry_backoff": "100 milliseconds"},
        },
    )  # fmt: skip


@pytest.mark.usefixtures("one_optimize_thread")
def test_a_concurrent_commit_is_retried(spark: SparkSession, tmp_path: Path) -> None:
    lake = _small_table(spark, tmp_path)
    writer = DeletingWriter(spark, lake, stop_at_attempt=1)
    try:
        result = run_maintain(spark, _maintain_config(lake, tmp_path, max_retries=5))
    finally:
        writer.stop()
    (report,) = result.tables
    assert report.conflicts and set(report.conflicts) <= DELETE_CONFLICTS, report.conflicts
    # the last attempt compacted what the deletes left: one file per remaining day
    kept = [day for day in DAYS if day not in writer.deleted]
    assert report.files_after == len(kept)
    assert report.rows == len(kept) * CONFLICT_FILES // len(DAYS)
    left = lake.read(tables.RECONCILIATION_FINDINGS).select("run_date").distinct().collect()
    assert sorted(row.run_date for row in left) == kept


@pytest.mark.usefixtures("one_optimize_thread")
def test_conflicts_past_max_retries_fail_with_one_line(spark: SparkSession, tmp_path: Path) -> None:
    lake = _small_table(spark, tmp_path)
    writer = DeletingWriter(spark, lake, stop_at_attempt=1)  # max_retries 0: no attempt 1
    try:
        with pytest.raises(ConflictError) as failed:
            run_maintain(spark, _maintain_config(lake, tmp_path, max_retries=0))
    finally:
        writer.stop()
    message = str(failed.value)
    table = tables.RECONCILIATION_FINDINGS
    assert message.startswith(f"compaction of table {table} lost 1 time(s) to concurrent ")
    assert message.endswith(
        f"; run maintain when fewer writers commit to {table} (not beside a reconcile run) or "
        "raise maintain.max_retries"
    )
    assert any(f"(last: {name})" in message for name in DELETE_CONFLICTS)
    assert failed.value.exit_code == 5
    # nothing compacted: still one file per row of the days left
    kept = [day for day in DAYS if day not in writer.deleted]
    files = lake.read(tables.RECONCILIATION_FINDINGS).inputFiles()
    assert len(files) == len(kept) * CONFLICT_FILES // len(DAYS)
