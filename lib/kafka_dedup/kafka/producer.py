"""The recommended way to publish: keyed by entity, idempotent, one event_id per logical event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafka_dedup.errors import UserError
from kafka_dedup.kafka.client_errors import ClientErrors

FLUSH_TIMEOUT_S = 60.0

RETRYING = "retrying; a record it cannot deliver in time is reported when the run flushes"
# enable.idempotence makes the broker drop the copy a retry writes after a lost ack;
# acks=all is required by idempotence and keeps an acknowledged record on every replica.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
}


class DeliveryError(UserError):
    """The broker did not accept one or more records."""


def new_event_id() -> str:
    """A fresh event id; call it once per logical event and reuse it for every resend."""
    return uuid.uuid4().hex


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z suffix, as the envelope expects."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One logical event: its identity is (key, event_id), fixed before the first send."""

    key: str
    event_type: str
    event_time: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    sequence: int | None = None
    event_id: str = field(default_factory=new_event_id)

    def envelope(self, producer_id: str | None) -> dict[str, Any]:
        """The JSON envelope of the public contract."""
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": iso_utc(self.event_time),
        }
        if self.sequence is not None:
            body["sequence"] = self.sequence
        if producer_id is not None:
            body["producer_id"] = producer_id
        body["payload"] = dict(self.payload)
        return body


def encode(event: Event, producer_id: str | None) -> bytes:
    return json.dumps(event.envelope(producer_id), separators=(",", ":")).encode("utf-8")


class EventProducer:
    """Publishes events keyed by entity; delivery errors are collected and raised on flush."""

    def __init__(
        self,
        bootstrap_servers: str,
        producer_id: str,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.producer_id = producer_id
        self._errors: list[str] = []
        self.delivered = 0
        self.client_errors = ClientErrors(f"Kafka producer {producer_id}", RETRYING)
        self._producer = Producer(
            {
                **PRODUCER_DEFAULTS,
                "bootstrap.servers": bootstrap_servers,
                "client.id": producer_id,
                # librdkafka's errors go to client_errors, not stderr; a record the broker
                # did not take is reported by DeliveryError on flush
                **self.client_errors.settings(),
                **(extra_config or {}),
            }
        )

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}[{message.key()!r}]: {error.str()}")
        else:
            self.delivered += 1
            self.client_errors.got_through("delivering")

    def send(self, topic: str, event: Event, timestamp_ms: int | None = None) -> None:
        """Queue one event; the key decides the partition, so one key keeps its order."""
        self.send_raw(
            topic, event.key.encode("utf-8"), encode(event, self.producer_id), timestamp_ms
        )

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None:
        """Queue bytes as they are (the simulator uses it for malformed records)."""

        def delivered(error: KafkaError | None, message: Message) -> None:
            self._on_delivery(error, message)
            if on_delivery is not None:
                on_delivery(error, message)

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": delivered}
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                break
            except BufferError:  # local queue full: let the delivery callbacks drain it
                self._producer.poll(0.5)
        self._producer.poll(0)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> int:
        """Wait for every queued record; raise DeliveryError if any was refused or timed out."""
        try:
            remaining = self._producer.flush(timeout_s)
        except KafkaException as exc:
            raise DeliveryError(f"flushing to Kafka failed: {exc}") from None
        if remaining:
            raise DeliveryError(
                f"{remaining} records were not delivered within {timeout_s:.0f} s: check that "
                "the brokers in --bootstrap-servers are reachable"
            )
        if self._errors:
            first = self._errors[0]
            raise DeliveryError(
                f"{len(self._errors)} records were refused by Kafka, first: {first}"
            )
        return self.delivered

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
