"""Send a simulated stream to Kafka and write its manifest (the ground truth)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import NewTopic

from kafka_dedup.kafka import admin, simulator
from kafka_dedup.kafka.producer import EventProducer
from kafka_dedup.kafka.truth import PRODUCER_RETRY, Coordinates, Stream

TOPIC_TIMEOUT_S = 30.0
PROGRESS_EVERY = 10_000
__all__ = ["Coordinates", "ensure_topic", "publish", "write_manifest"]


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int) -> bool:
    """Create the topic when missing; True when it was created."""
    if topic in admin.topic_names(bootstrap_servers):
        return False
    client = admin.admin_client(bootstrap_servers)  # must outlive the future it returns
    futures = client.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    futures[topic].result(timeout=TOPIC_TIMEOUT_S)
    return True


def publish(
    stream: Stream,
    bootstrap_servers: str,
    topic: str,
    phases: tuple[str, ...],
    progress: Callable[[int, int], None] | None = None,
    indices: range | None = None,
) -> Coordinates:
    """Send the records of the given phases (and index range) in order.

    Returns index -> (topic, partition, offset) of each record sent.

    Every record goes through the idempotent producer; a producer retry is simulated the way
    a non-idempotent producer causes it: the same bytes and timestamp written a second time.
    """
    coordinates: Coordinates = {}
    producer = EventProducer(bootstrap_servers, producer_id="kafka-dedup-simulator")
    candidates = indices if indices is not None else range(len(stream.records))
    selected = [i for i in candidates if stream.records[i].phase in phases]
    timestamps: dict[tuple[bytes | None, bytes | None], int] = {}

    def remember(index: int) -> Callable[[object, object], None]:
        def on_delivery(error: object, message: object) -> None:
            if error is None:
                coordinates[index] = (message.topic(), message.partition(), message.offset())  # type: ignore[attr-defined]

        return on_delivery

    for n, index in enumerate(selected, start=1):
        record = stream.records[index]
        identity = (record.raw_key, record.value)
        if record.cls == PRODUCER_RETRY and identity in timestamps:
            timestamp = timestamps[identity]
        else:
            timestamp = int(time.time() * 1000)
            timestamps[identity] = timestamp
        producer.send_raw(
            topic,
            record.raw_key,
            record.value,
            timestamp,
            headers=record.headers,
            on_delivery=remember(index),
        )
        if progress and n % PROGRESS_EVERY == 0:
            progress(n, len(selected))
    producer.flush()
    if progress:
        progress(len(selected), len(selected))
    return coordinates


def write_manifest(path: Path, stream: Stream, coordinates: Coordinates, seed: int) -> None:
    """Write the manifest, keeping coordinates recorded by an earlier phase of the same stream."""
    previous: Coordinates = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("type") == "record" and row.get("offset") is not None:
                previous[row["index"]] = (row["topic"], row["partition"], row["offset"])
    merged = {**previous, **coordinates}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(simulator.manifest_lines(stream, merged, seed)) + "\n")
