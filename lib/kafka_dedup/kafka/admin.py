"""One metadata request to Kafka, with the project's one-line error when nobody answers."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from kafka_dedup.errors import UserError

METADATA_TIMEOUT_S = 10.0


class KafkaUnreachableError(UserError):
    """No broker in the bootstrap list answered a metadata request."""


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
        raise KafkaUnreachableError(
            f"Kafka at {bootstrap_servers} is unreachable: start it (`kafka-dedup broker "
            "start`) or fix --bootstrap-servers"
        ) from None
    return set(metadata.topics)
