"""Shared helpers for ingestion tests: config per test, reading tables, manifest truth."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.chaos.process import IngestTarget
from kafka_dedup.config import Config
from kafka_dedup.kafka import simulator
from kafka_dedup.kafka.producer import EventProducer
from kafka_dedup.warehouse import Warehouse


def ingest_config(base: Config, root: Path, bootstrap: str, topic: str, **kafka: Any) -> Config:
    """A config with its own warehouse, checkpoints and database under root."""
    database = "t_" + root.name.replace("-", "_").lower()[-40:]
    return dataclasses.replace(
        base,
        kafka=dataclasses.replace(
            base.kafka, bootstrap_servers=bootstrap, topics=(topic,), **kafka
        ),
        storage=dataclasses.replace(
            base.storage,
            warehouse=str(root / "warehouse"),
            checkpoints=str(root / "checkpoints"),
            database=database,
        ),
    )


def ingest_target(config: Config, topic: str) -> IngestTarget:
    """What `chaos.process.start_ingest` needs to run the CLI on this config's folders."""
    return IngestTarget(
        config.kafka.bootstrap_servers,
        topic,
        Path(config.storage.warehouse),
        Path(config.storage.checkpoints),
        config.storage.database,
    )


def read(spark: SparkSession, config: Config, name: str) -> list[Any]:
    return Warehouse.of(config, spark).read(name).collect()


def table_version(spark: SparkSession, config: Config, name: str) -> int:
    return int(Warehouse.of(config, spark).table(name).history(1).first()["version"])


def sent_records(stream: simulator.Stream, phases: tuple[str, ...]) -> list[simulator.Record]:
    return [r for r in stream.records if r.phase in phases]


def expected_events(stream: simulator.Stream, include_late: bool) -> set[tuple[str, str]]:
    return {(e["key"], e["event_id"]) for e in stream.events if include_late or not e["late"]}


def expected_state(stream: simulator.Stream, include_late: bool) -> dict[str, tuple[str, int]]:
    state = simulator.expected_state(stream.events, include_late)
    return {key: (event["event_id"], event["sequence"]) for key, event in state.items()}


def envelope(event_id: str, event_time: str, sequence: int = 1) -> bytes:
    """A valid message value."""
    body = {"event_id": event_id, "event_type": "order.paid", "event_time": event_time}
    return json.dumps({**body, "sequence": sequence, "payload": {"amount": 1.0}}).encode()


def send(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> list[tuple[str, int, int]]:
    """Produce raw (key, value) records in order; their (topic, partition, offset) in that order."""
    coordinates: dict[int, tuple[str, int, int]] = {}
    producer = EventProducer(bootstrap, producer_id="test")

    def remember(index: int) -> Callable[[object, Any], None]:
        def delivered(error: object, message: Any) -> None:
            assert error is None, error
            coordinates[index] = (message.topic(), message.partition(), message.offset())

        return delivered

    for index, (key, value) in enumerate(records):
        producer.send_raw(topic, key, value, on_delivery=remember(index))
    producer.flush()
    return [coordinates[index] for index in range(len(records))]


def valid_records(prefix: str, count: int, event_time: str) -> list[tuple[bytes, bytes]]:
    return [(f"k{i % 3}".encode(), envelope(f"{prefix}-{i}", event_time)) for i in range(count)]


def offsets_of(spark: SparkSession, config: Config, name: str) -> Counter[tuple[str, int, int]]:
    return Counter((r.topic, r.partition, r.offset) for r in read(spark, config, name))


def identities(spark: SparkSession, config: Config) -> Counter[tuple[str, str]]:
    return Counter((r.key, r.event_id) for r in read(spark, config, tables.EVENTS))
