"""The ingestion job: pre-flight checks, the two chained queries, progress, graceful stop."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from kafka_dedup import log
from kafka_dedup.config import Config
from kafka_dedup.config.mapping import avro_mappings
from kafka_dedup.errors import UserError
from kafka_dedup.ingest import offsets, streams
from kafka_dedup.ingest.batches import BatchLedger
from kafka_dedup.ingest.progress import RAN_PHASE, IngestTotals, ProgressReporter
from kafka_dedup.ingest.schemas import RegistryUnreachableError, SchemaRegistry
from kafka_dedup.kafka import admin
from kafka_dedup.warehouse import Warehouse

logger = log.get(__name__)

POLL_S = 1
GRACEFUL_STOP_S = 300.0
DATA_LOSS_MARKERS = ("failOnDataLoss", "data may have been lost", "OffsetOutOfRange")


class IngestError(UserError):
    """The ingestion cannot start or stopped on a condition the user must fix."""


@dataclass(frozen=True)
class IngestResult:
    run_id: str
    totals: IngestTotals
    stopped_by_signal: bool


def check_kafka(config: Config) -> set[str]:
    """Fail fast, before any data is written, when the broker or a topic is missing;
    returns the cluster's topics (none asked for on an authenticated cluster)."""
    kafka = config.kafka
    if kafka.options.get("security.protocol", "PLAINTEXT").upper() != "PLAINTEXT":
        return set()  # authenticated clusters: Spark's own client reports access problems
    existing = admin.topic_names(kafka.bootstrap_servers)
    if kafka.topic_pattern:
        return existing
    missing = [topic for topic in kafka.topics if topic not in existing]
    if missing:
        raise IngestError(
            f"topic(s) {', '.join(missing)} not found on {kafka.bootstrap_servers}: create them "
            "or fix --topics"
        )
    return existing


def check_schema_registry(config: Config) -> None:
    """Fail fast when an Avro mapping has no schema registry, or the registry does not answer."""
    avro_topics = [m.name for m in avro_mappings(config.ingest.mappings)]
    if not avro_topics:
        return
    if not config.kafka.schema_registry_url:
        raise IngestError(
            f"ingest.mappings for {', '.join(avro_topics)} read Avro, but no schema registry is "
            "set: set kafka.schema_registry_url (KAFKA_DEDUP_KAFKA__SCHEMA_REGISTRY_URL)"
        )
    try:
        SchemaRegistry(config.kafka.schema_registry_url).check()
    except RegistryUnreachableError as exc:
        raise IngestError(str(exc)) from None


def _explain(exc: StreamingQueryException) -> Exception:
    message = str(exc)
    registry_marker = RegistryUnreachableError.__name__ + ": "
    for line in message.splitlines():  # raised in a foreachBatch: the batch was not written
        if registry_marker in line:
            return IngestError(line.split(registry_marker, 1)[1].strip())
    if any(marker in message for marker in DATA_LOSS_MARKERS):
        return IngestError(
            "Kafka no longer holds offsets this job has not read yet (deleted by retention); "
            "to skip the lost records knowingly, rerun with "
            "KAFKA_DEDUP_KAFKA__FAIL_ON_DATA_LOSS=false"
        )
    return exc


class StateReporter:
    """One debug line (with fields, for --log-json) per new batch of a stateful query: the
    state store's memory and size, for watching them over a long run."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def poll(self, name: str, query: StreamingQuery) -> None:
        for progress in query.recentProgress:
            # an idle event repeats the last figures under the id of the batch to come
            if not progress.stateOperators or RAN_PHASE not in (progress.durationMs or {}):
                continue
            batch = int(progress.batchId)
            if batch <= self.last.get(name, -1):
                continue
            self.last[name] = batch
            self._log(name, batch, progress)

    @staticmethod
    def _log(name: str, batch: int, progress: Any) -> None:
        for operator in progress.stateOperators:
            metrics = dict(operator.customMetrics or {})
            logger.debug(
                f"[{name:>10}] batch {batch}: state store memory "
                f"{int(operator.memoryUsedBytes or 0)} bytes, "
                f"{int(metrics.get('rocksdbSstFileSize', 0))} bytes on disk",
                extra={
                    "state_query": name,
                    "state_batch": batch,
                    "state_operator": operator.operatorName,
                    "state_memory_bytes": int(operator.memoryUsedBytes or 0),
                    "state_rows": int(operator.numRowsTotal or 0),
                    "state_metrics": metrics,
                },
            )


def _drive(
    queries: dict[str, StreamingQuery],
    reporter: ProgressReporter,
    stop: threading.Event,
    lake: Warehouse,
) -> bool:
    """Poll progress until the queries end or stop is set; True when stopped by the signal.
    Each completed batch's figures are appended to ingest_batches at once, so a killed
    process loses at most the batches of its last poll (about a second)."""
    state = StateReporter()
    while any(query.isActive for query in queries.values()):
        if stop.is_set():
            for query in queries.values():
                streams.wait_until_idle(query, GRACEFUL_STOP_S)
                query.stop()
            for name, query in queries.items():
                reporter.poll(name, query)
                state.poll(name, query)
            return True
        for name, query in queries.items():
            try:
                query.awaitTermination(POLL_S)
            except StreamingQueryException as exc:
                raise _explain(exc) from None
            reporter.poll(name, query)
            state.poll(name, query)
        reporter.flush(lake)
    for name, query in queries.items():
        reporter.poll(name, query)
        state.poll(name, query)
        failure = query.exception()
        if failure is not None:
            raise _explain(failure) from None
    return False


class RunQueries:
    """Starts this run's queries and remembers them, so the run stops its own and no one
    else's: another query on the same session (a notebook's, a test's) keeps running."""

    def __init__(self, lake: Warehouse, config: Config, resume: offsets.Resume) -> None:
        self.lake, self.config, self.resume = lake, config, resume
        self.started: list[StreamingQuery] = []

    def start(
        self,
        starter: Callable[[Warehouse, Config, BatchLedger, offsets.Resume], StreamingQuery],
        ledger: BatchLedger,
    ) -> StreamingQuery:
        query = starter(self.lake, self.config, ledger, self.resume)
        self.started.append(query)
        return query

    def stop_all(self) -> None:
        """Stop the queries this run started (a no-op for those that already ended)."""
        for query in self.started:
            query.stop()


def _run_queries(
    run: RunQueries, reporter: ProgressReporter, stop: threading.Event, trigger: str
) -> bool:
    """available-now: one query after the other, each until caught up; a processing-time
    trigger: both at once until `stop` is set. True when stopped by the signal."""
    ledger, lake = reporter.ledger, run.lake
    first = run.start(streams.start_deliveries_query, ledger)
    if trigger != "available-now":
        second = run.start(streams.start_events_query, ledger)
        queries = {streams.DELIVERIES_QUERY: first, streams.EVENTS_QUERY: second}
        return _drive(queries, reporter, stop, lake)
    # The events query must start after deliveries caught up, so that it sees everything
    # Kafka held when the run started.
    if _drive({streams.DELIVERIES_QUERY: first}, reporter, stop, lake):
        return True
    second = run.start(streams.start_events_query, ledger)
    return _drive({streams.EVENTS_QUERY: second}, reporter, stop, lake)


def run_ingest(
    spark: SparkSession,
    config: Config,
    stop: threading.Event | None = None,
    run_id: str | None = None,
) -> IngestResult:
    """Run both queries (see _run_queries) and return the run's figures; progress lines go
    to this module's logger."""
    existing = check_kafka(config)
    check_schema_registry(config)
    stop = stop or threading.Event()
    run_id = run_id or uuid.uuid4().hex[:12]
    reporter = ProgressReporter(run_id, BatchLedger())
    lake = Warehouse.of(config, spark)
    events_checkpoint = streams.checkpoint(config, streams.EVENTS_QUERY)
    resume = offsets.prepare(lake, config, existing, events_checkpoint)  # reads only; may raise
    # Created before the queries start, so their batches only write.
    lake.ensure(*streams.INGEST_TABLES)
    offsets.record_topic_ids(lake, resume)
    run = RunQueries(lake, config, resume)
    try:
        stopped = _run_queries(run, reporter, stop, config.ingest.trigger)
    finally:
        run.stop_all()
        reporter.flush(lake)
    return IngestResult(run_id, reporter.totals, stopped)
