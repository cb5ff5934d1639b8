"""Metadata requests to Kafka, with the project's one-line error when nobody answers."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from kafka_dedup.errors import UserError

METADATA_TIMEOUT_S = 10.0


class KafkaUnreachableError(UserError):
    """No broker in the bootstrap list answered a metadata request."""


@dataclass(frozen=True)
class TopicLog:
    """A topic as Kafka holds it now: its id (new when the topic is recreated) and, per
    partition, the earliest offset still held and the end offset (the next one written)."""

    topic_id: str
    offsets: dict[int, tuple[int, int]]


def admin_client(bootstrap_servers: str) -> AdminClient:
    # log_level 0: a refused connection is reported by our own error, not by librdkafka lines.
    return AdminClient(
        {"bootstrap.servers": bootstrap_servers, "log_level": 0, "socket.timeout.ms": 5000}
    )


def topic_names(bootstrap_servers: str) -> set[str]:
    """The topics the cluster has; raises KafkaUnreachableError when it does not answer."""
    try:
        metadata = admin_client(bootstrap_servers).list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException:
        raise _unreachable(bootstrap_servers) from None
    return set(metadata.topics)


def _unreachable(bootstrap_servers: str) -> KafkaUnreachableError:
    return KafkaUnreachableError(
        f"Kafka at {bootstrap_servers} is unreachable: start it (`kafka-dedup broker "
        "start`) or fix --bootstrap-servers"
    )


def topic_logs(bootstrap_servers: str, topics: list[str]) -> dict[str, TopicLog]:
    """Id and offset range of every partition of the given (existing) topics."""
    if not topics:
        return {}
    client = admin_client(bootstrap_servers)
    try:
        described = {
            name: future.result(timeout=METADATA_TIMEOUT_S)
            for name, future in client.describe_topics(TopicCollection(topics)).items()
        }
        partitions = [
            TopicPartition(name, info.id)
            for name, description in described.items()
            for info in description.partitions
        ]
        ends = {spec: _offsets(client, partitions, spec) for spec in ("earliest", "latest")}
    except KafkaException:
        raise _unreachable(bootstrap_servers) from None
    return {
        name: TopicLog(
            str(description.topic_id),
            {
                info.id: (ends["earliest"][(name, info.id)], ends["latest"][(name, info.id)])
                for info in description.partitions
            },
        )
        for name, description in described.items()
    }


def _offsets(
    client: AdminClient, partitions: list[TopicPartition], spec: str
) -> dict[tuple[str, int], int]:
    offset_spec = OffsetSpec.earliest() if spec == "earliest" else OffsetSpec.latest()
    futures = client.list_offsets({tp: offset_spec for tp in partitions})
    return {
        (tp.topic, tp.partition): future.result(timeout=METADATA_TIMEOUT_S).offset
        for tp, future in futures.items()
    }
