"""What each micro-batch writes (the two foreachBatch bodies) and the figures it records."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kafka_dedup import domain, eventlog, tables
from kafka_dedup.config.mapping import TopicMapping
from kafka_dedup.ingest import offsets, parse
from kafka_dedup.ingest.schemas import SchemaRegistry
from kafka_dedup.warehouse import Warehouse

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


def _on_batch_session(lake: Warehouse, batch_df: DataFrame) -> Warehouse:
    """The same warehouse, read through the micro-batch's own session."""
    return Warehouse(lake.root, lake.database, batch_df.sparkSession)


def write_deliveries_batch(
    lake: Warehouse,
    max_future_skew: str,
    identity: QueryIdentity,
    ledger: BatchLedger,
    written: offsets.Written,
    mappings: tuple[TopicMapping, ...] = (),
    registry: SchemaRegistry | None = None,
) -> Callable[[DataFrame, int], None]:
    """foreachBatch body: append every record not yet in deliveries, then the batch's
    malformed rows not yet in quarantine, read back from deliveries, to quarantine.

    Idempotent per offset: `written` holds each partition's highest offset in the tables
    when the run started, so a batch re-run after a crash, or read again by an old or new
    checkpoint, drops what is there and writes the rest. (Delta's txnAppId/txnVersion would
    skip a whole batch that an older copy of the same checkpoint reads with other offsets.)

    Kafka is read and parsed once, by the deliveries write itself (with Avro topics, the
    batch is cached first: one pass collects its schema ids, see ingest.avro). The read-back
    finds the batch's rows by query id and batch id, so it is cheap (file statistics skip the
    other files, Parquet null counts skip valid row groups), and it still finds them when a
    crash fell between the two writes and the re-run's deliveries rows are all filtered out."""

    def write(batch_df: DataFrame, batch_id: int) -> None:
        query_id = identity.query_id()
        batch_lake = _on_batch_session(lake, batch_df)
        records_df = batch_df.transform(offsets.filter_unwritten, written=written.delivered)
        with parsed_batch(records_df, max_future_skew, mappings, registry) as parsed_df:
            deliveries_df = parsed_df.transform(
                parse.with_ingest_columns, batch_id=batch_id, query_id=query_id
            )
            append(deliveries_df, batch_lake, tables.DELIVERIES, merge_schema=True)
        malformed_df = (
            batch_lake.read(tables.DELIVERIES)
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
            append(malformed_df, batch_lake, tables.QUARANTINE)
        ledger.put(DELIVERIES_QUERY, batch_id, BatchFigures(malformed=malformed))

    return write


@contextmanager
def parsed_batch(
    records_df: DataFrame,
    max_future_skew: str,
    mappings: tuple[TopicMapping, ...],
    registry: SchemaRegistry | None,
) -> Iterator[DataFrame]:
    """A micro-batch's Kafka records parsed into deliveries rows, for the block's writes.
    With Avro topics the records are cached for the block, so Kafka is read once for both
    the batch's schema ids and the parse; their schemas come from the registry."""
    if registry is None:
        yield records_df.transform(
            parse.parse_deliveries, max_future_skew=max_future_skew, mappings=mappings
        )
        return
    records_df.persist()
    try:
        schemas = registry.schemas(parse.avro_schema_ids(records_df, mappings))
        yield records_df.transform(
            parse.parse_deliveries,
            max_future_skew=max_future_skew,
            mappings=mappings,
            schemas=schemas,
        )
    finally:
        records_df.unpersist()


def append(rows_df: DataFrame, lake: Warehouse, name: str, merge_schema: bool = False) -> None:
    """Append rows to a contract table (created before the queries start)."""
    writer = rows_df.write.format("delta").mode("append")
    if merge_schema:  # deliveries tables created before a column was added
        writer = writer.option("mergeSchema", "true")
    writer.save(lake.location(name))


def merge_events_batch(lake: Warehouse, ledger: BatchLedger) -> Callable[[DataFrame, int], None]:
    """foreachBatch body: MERGEs of the watermark-deduplicated rows.

    Idempotent by themselves: a batch re-run after a crash carries the same rows (Spark
    replays its offsets and state), which the insert-only MERGE finds and the state MERGE
    does not take as newer. No txnAppId/txnVersion: they would skip a batch that an older
    copy of the checkpoint (restored from a backup) plans again with other rows."""

    def write(batch_df: DataFrame, batch_id: int) -> None:
        # dropDuplicatesWithinWatermark already leaves one row per (key, event_id) in a batch.
        batch_lake = _on_batch_session(lake, batch_df)
        counts = eventlog.merge_unique(
            batch_lake.table(tables.EVENTS),
            batch_lake.table(tables.ENTITY_STATE),
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
