"""The two chained streaming queries: Kafka -> deliveries, and deliveries -> events/entity_state."""

from __future__ import annotations

import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from kafka_dedup import domain, tables
from kafka_dedup.config import Config
from kafka_dedup.config.mapping import avro_mappings
from kafka_dedup.ingest import avro, offsets
from kafka_dedup.ingest.batches import (
    DELIVERIES_QUERY,
    EVENTS_QUERY,
    BatchLedger,
    QueryIdentity,
    merge_events_batch,
    write_deliveries_batch,
)
from kafka_dedup.ingest.schemas import SchemaRegistry
from kafka_dedup.paths import absolute
from kafka_dedup.warehouse import Warehouse

INGEST_TABLES = (
    tables.DELIVERIES,
    tables.QUARANTINE,
    tables.EVENTS,
    tables.ENTITY_STATE,
    tables.INGEST_BATCHES,
)


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


def dedup_stream(deliveries_df: DataFrame, watermark: str) -> DataFrame:
    """Valid deliveries, deduplicated on the event identity within the watermark delay."""
    return (
        deliveries_df.where(F.col("parse_error").isNull())
        .withWatermark("event_time", watermark)
        .dropDuplicatesWithinWatermark(list(domain.IDENTITY))
    )


def schema_registry(config: Config, spark: SparkSession) -> SchemaRegistry | None:
    """The registry the Avro mappings' writer schemas come from; None without Avro topics."""
    if not avro_mappings(config.ingest.mappings):
        return None
    return SchemaRegistry(config.kafka.schema_registry_url, avro.spark_validator(spark))


def start_deliveries_query(
    lake: Warehouse, config: Config, ledger: BatchLedger, resume: offsets.Resume
) -> StreamingQuery:
    """Kafka -> deliveries (+ quarantine): stateless, every record, idempotent per offset."""
    identity = QueryIdentity(DELIVERIES_QUERY)
    write = write_deliveries_batch(
        lake,
        config.ingest.max_future_skew,
        identity,
        ledger,
        resume.written,
        config.ingest.mappings,
        schema_registry(config, lake.spark),
    )
    writer = (
        kafka_source(lake.spark, config, resume.starting_offsets)
        .writeStream.queryName(f"kafka-dedup-{DELIVERIES_QUERY}")
        .option("checkpointLocation", checkpoint(config, DELIVERIES_QUERY))
        .foreachBatch(write)
    )
    query = _with_trigger(writer, config.ingest.trigger).start()
    identity.set(query.id)
    return query


def start_events_query(
    lake: Warehouse, config: Config, ledger: BatchLedger, resume: offsets.Resume
) -> StreamingQuery:
    """deliveries -> watermark dedup -> MERGE into events and entity_state."""
    reader = lake.spark.readStream.format("delta")
    if resume.events_starting_version is not None:  # set only for a new checkpoint
        reader = reader.option("startingVersion", str(resume.events_starting_version))
    source_df = reader.load(lake.location(tables.DELIVERIES))
    writer = (
        source_df.transform(dedup_stream, watermark=config.ingest.watermark)
        .writeStream.queryName(f"kafka-dedup-{EVENTS_QUERY}")
        .option("checkpointLocation", checkpoint(config, EVENTS_QUERY))
        .foreachBatch(merge_events_batch(lake, ledger))
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
