"""The two chained streaming queries: Kafka -> deliveries, and deliveries -> events/entity_state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import offsets, parse
from kafka_dedup.session import absolute
from kafka_dedup.warehouse import Warehouse

INGEST_TABLES = (
    tables.DELIVERIES,
    tables.QUARANTINE,
    tables.EVENTS,
    tables.ENTITY_STATE,
    tables.INGEST_BATCHES,
)
DELIVERIES_QUERY = "deliveries"
EVENTS_QUERY = "events"
QUERY_ID_WAIT_S = 60.0


@dataclass
class BatchFigures:
    """What foreachBatch learns about one micro-batch (Spark's progress adds the rest)."""

    malformed: int = 0
    duplicates_caught_by_merge: int = 0
    rows_inserted: int = 0
    state_updates: int = 0


@dataclass
class BatchLedger:
    """Figures per (query, batch_id), written by foreachBatch threads, read by the main loop."""

    figures: dict[tuple[str, int], BatchFigures] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, query: str, batch_id: int, figures: BatchFigures) -> None:
        with self.lock:
            self.figures[(query, batch_id)] = figures

    def pop(self, query: str, batch_id: int) -> BatchFigures | None:
        with self.lock:
            return self.figures.pop((query, batch_id), None)


class QueryIdentity:
    """The streaming query's id, known only after start(); stable across restarts from the
    same checkpoint, it tags the deliveries rows each batch wrote."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._id: str | None = None
        self._ready = threading.Event()

    def set(self, query_id: str) -> None:
        self._id = query_id
        self._ready.set()

    def query_id(self) -> str:
        if not self._ready.wait(QUERY_ID_WAIT_S) or self._id is None:
            raise RuntimeError(f"query {self.name} did not report its id")
        return self._id


def kafka_source(spark: SparkSession, config: Config, starting_offsets: str) -> DataFrame:
    """The Kafka source with the configured topics and limits; starting_offsets is used
    by Spark only when the checkpoint is new."""
    kafka = config.kafka
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("startingOffsets", starting_offsets)
        .option("failOnDataLoss", str(kafka.fail_on_data_loss).lower())
        .option("includeHeaders", "true")
    )
    if kafka.topic_pattern:
        reader = reader.option("subscribePattern", kafka.topic_pattern)
    else:
        reader = reader.option("subscribe", ",".join(kafka.topics))
    if kafka.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", str(kafka.max_offsets_per_trigger))
    for key, value in kafka.options.items():
        reader = reader.option(key if key.startswith("kafka.") else f"kafka.{key}", value)
    return reader.load()


def _with_trigger(writer: DataStreamWriter, trigger: str) -> DataStreamWriter:
    if trigger == "available-now":
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=trigger)


def write_deliveries_batch(
    config: Config, identity: QueryIdentity, ledger: BatchLedger, written: offsets.Written
) -> Callable[[DataFrame, int], None]:
    """foreachBatch body: append every record not yet in deliveries, then the batch's
    malformed rows not yet in quarantine, read back from deliveries, to quarantine.

    Idempotent per offset: `written` holds each partition's highest offset in the tables
    when the run started, so a batch re-run after a crash, or read again by an old or new
    checkpoint, drops what is there and writes the rest. (Delta's txnAppId/txnVersion would
    skip a whole batch that an older copy of the same checkpoint reads with other offsets.)

    Kafka is read and parsed once, by the deliveries write itself. The read-back finds the
    batch's rows by query id and batch id, so it is cheap (file statistics skip the other
    files, Parquet null counts skip valid row groups), and it still finds them when a crash
    fell between the two writes and the re-run's deliveries rows are all filtered out."""
    warehouse = absolute(config.storage.warehouse)
    deliveries_path = tables.location(warehouse, tables.DELIVERIES)

    def write(batch_df: DataFrame, batch_id: int) -> None:
        query_id = identity.query_id()
        deliveries_df = (
            batch_df.transform(offsets.filter_unwritten, written=written.delivered)
            .transform(parse.parse_deliveries, max_future_skew=config.ingest.max_future_skew)
            .transform(parse.with_ingest_columns, batch_id=batch_id, query_id=query_id)
        )
        _append(deliveries_df, deliveries_path, merge_schema=True)
        spark = batch_df.sparkSession
        malformed_df = (
            spark.read.format("delta")
            .load(deliveries_path)
            .where(
                (F.col("ingest_query_id") == query_id)
                & (F.col("ingest_batch_id") == batch_id)
                & F.col("parse_error").isNotNull()
            )
            .transform(offsets.filter_unwritten, written=written.quarantined)
            .transform(parse.to_quarantine)
            .localCheckpoint(eager=True)  # read once for the count and the write
        )
        malformed = malformed_df.count()
        if malformed:
            _append(malformed_df, tables.location(warehouse, tables.QUARANTINE))
        ledger.put(DELIVERIES_QUERY, batch_id, BatchFigures(malformed=malformed))

    return write


def _append(rows_df: DataFrame, path: str, merge_schema: bool = False) -> None:
    writer = rows_df.write.format("delta").mode("append")
    if merge_schema:  # deliveries tables created before a column was added
        writer = writer.option("mergeSchema", "true")
    writer.save(path)


def merge_events_batch(config: Config, ledger: BatchLedger) -> Callable[[DataFrame, int], None]:
    """foreachBatch body: MERGEs of the watermark-deduplicated rows.

    Idempotent by themselves: a batch re-run after a crash carries the same rows (Spark
    replays its offsets and state), which the insert-only MERGE finds and the state MERGE
    does not take as newer. No txnAppId/txnVersion: they would skip a batch that an older
    copy of the checkpoint (restored from a backup) plans again with other rows."""
    warehouse = absolute(config.storage.warehouse)

    def write(batch_df: DataFrame, batch_id: int) -> None:
        # dropDuplicatesWithinWatermark already leaves one row per (key, event_id) in a batch.
        lake = Warehouse(warehouse, config.storage.database, batch_df.sparkSession)
        counts = eventlog.merge_unique(
            lake.table(tables.EVENTS),
            lake.table(tables.ENTITY_STATE),
            batch_df,
            domain.MERGED_BY_STREAM,
        )
        ledger.put(
            EVENTS_QUERY,
            batch_id,
            BatchFigures(
                duplicates_caught_by_merge=counts.duplicates_caught_by_merge,
                rows_inserted=counts.inserted,
                state_updates=counts.state_updates,
            ),
        )

    return write


def dedup_stream(deliveries_df: DataFrame, watermark: str) -> DataFrame:
    """Valid deliveries, deduplicated on (key, event_id) within the watermark delay."""
    return (
        deliveries_df.where(F.col("parse_error").isNull())
        .withWatermark("event_time", watermark)
        .dropDuplicatesWithinWatermark(["key", "event_id"])
    )


def start_deliveries_query(
    spark: SparkSession, config: Config, ledger: BatchLedger, resume: offsets.Resume
) -> StreamingQuery:
    """Kafka -> deliveries (+ quarantine): stateless, every record, idempotent per offset."""
    identity = QueryIdentity(DELIVERIES_QUERY)
    writer = (
        kafka_source(spark, config, resume.starting_offsets)
        .writeStream.queryName(f"kafka-dedup-{DELIVERIES_QUERY}")
        .option("checkpointLocation", checkpoint(config, DELIVERIES_QUERY))
        .foreachBatch(write_deliveries_batch(config, identity, ledger, resume.written))
    )
    query = _with_trigger(writer, config.ingest.trigger).start()
    identity.set(query.id)
    return query


def start_events_query(
    spark: SparkSession, config: Config, ledger: BatchLedger, resume: offsets.Resume
) -> StreamingQuery:
    """deliveries -> watermark dedup -> MERGE into events and entity_state."""
    warehouse = absolute(config.storage.warehouse)
    reader = spark.readStream.format("delta")
    if resume.events_starting_version is not None:  # used by Delta only for a new checkpoint
        reader = reader.option("startingVersion", str(resume.events_starting_version))
    source_df = reader.load(tables.location(warehouse, tables.DELIVERIES))
    writer = (
        source_df.transform(dedup_stream, watermark=config.ingest.watermark)
        .writeStream.queryName(f"kafka-dedup-{EVENTS_QUERY}")
        .option("checkpointLocation", checkpoint(config, EVENTS_QUERY))
        .foreachBatch(merge_events_batch(config, ledger))
    )
    return _with_trigger(writer, config.ingest.trigger).start()


def checkpoint(config: Config, query: str) -> str:
    return f"{absolute(config.storage.checkpoints).rstrip('/')}/{query}"


def wait_until_idle(query: StreamingQuery, timeout_s: float) -> None:
    """Let the micro-batch in flight finish (used before a graceful stop)."""
    deadline = time.monotonic() + timeout_s
    while query.isActive and time.monotonic() < deadline:
        status: dict[str, Any] = query.status
        if not status.get("isTriggerActive", False):
            return
        time.sleep(0.2)
