"""A consumer group that charges `order.paid` events, committing offsets only after processing.

naive: one charge per message received, so a redelivery charges twice.
idempotent: the charge and the event's identity, (key, event_id), go into the database in one
transaction; an event seen before is skipped. Fault injection exits hard between the write
and the offset commit. Reading reconcile's remediation topic, it charges the events of
`replay` messages and ignores every other action.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from kafka_dedup.domain import REPLAY
from kafka_dedup.downstream.store import Charge, ChargeStore, open_store
from kafka_dedup.errors import UserError
from kafka_dedup.kafka.client_errors import ClientErrors
from kafka_dedup.reconcile.remediation import EVENT_PAYLOAD

REMEDIATION_ID = "remediation_id"  # marks a message of reconcile's remediation topic

NAIVE, IDEMPOTENT = "naive", "idempotent"
MODES = (NAIVE, IDEMPOTENT)
CHARGED_EVENT_TYPE = "order.paid"
CRASH_EXIT_CODE = 75  # a deliberate crash: the supervisor restarts, anything else stops it
POLL_TIMEOUT_S = 1.0
BATCH_SIZE = 50


class ConsumerError(UserError):
    """The consumer cannot run (Kafka unreachable, fenced instance, bad option)."""


@dataclass(frozen=True)
class Options:
    bootstrap_servers: str
    topics: tuple[str, ...]
    group: str
    mode: str
    database: str
    crash_after_process_every: int = 0  # 0: never crash
    stop_at_end: bool = False
    idle_timeout_s: float = 0.0  # 0: wait for messages forever (unless stop_at_end)
    instance_id: str = ""  # static membership: a restart takes the partitions over at once
    event_type: str = CHARGED_EVENT_TYPE

    @property
    def instance(self) -> str:
        """The group.instance.id: instance_id, or the group's first instance."""
        return self.instance_id or f"{self.group}-1"


@dataclass
class Stats:
    received: int = 0
    charged: int = 0
    skipped_seen: int = 0
    ignored: int = 0
    malformed: int = 0
    commits: int = 0

    def line(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in vars(self).items())


def _from_remediation(body: dict[str, Any]) -> dict[str, Any] | None:
    """A remediation message as the envelope to charge: only `replay` asks for a charge."""
    if body.get("action") != REPLAY:
        return None
    try:
        payload = json.loads(body.get(EVENT_PAYLOAD) or "{}")
    except json.JSONDecodeError:
        payload = None
    return {**body, "payload": payload}


def to_charge(message: Message, event_type: str) -> Charge | None | str:
    """The charge a message asks for; None for other event types; a reason when malformed."""
    try:
        envelope = json.loads(message.value() or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "value is not a JSON envelope"
    if not isinstance(envelope, dict) or not envelope.get("event_id"):
        return "envelope has no event_id"
    raw_key = message.key()
    key = raw_key.decode("utf-8", "replace") if raw_key else envelope.get("key")
    if REMEDIATION_ID in envelope:  # keyed by event_id: the finding names the event's key
        replay = _from_remediation(envelope)
        if replay is None:
            return None
        envelope, key = replay, replay.get("key")
    if envelope.get("event_type") != event_type:
        return None
    payload = envelope.get("payload") or {}
    amount = payload.get("amount") if isinstance(payload, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return "payload.amount is not a number"
    return Charge(
        charge_id=uuid.uuid4().hex,
        event_id=str(envelope["event_id"]),
        order_id=key,
        amount=float(amount),
        currency=payload.get("currency"),
        charged_at=datetime.now(timezone.utc),
        topic=message.topic() or "",
        kafka_partition=message.partition() or 0,
        kafka_offset=message.offset() or 0,
    )


@dataclass
class _EndTracker:
    """Which assigned partitions have reached their end (partition EOF events)."""

    assigned: set[tuple[str, int]] = field(default_factory=set)
    at_end: set[tuple[str, int]] = field(default_factory=set)

    def on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(p.topic, p.partition) for p in partitions}

    def on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        self.assigned -= gone
        self.at_end -= gone

    def done(self) -> bool:
        return bool(self.assigned) and self.assigned <= self.at_end


def _consumer(options: Options, errors: ClientErrors) -> Consumer:
    config: dict[str, Any] = {
        "bootstrap.servers": options.bootstrap_servers,
        "group.id": options.group,
        "enable.auto.commit": False,  # offsets are committed only after processing
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "session.timeout.ms": 10000,
        "group.instance.id": options.instance,
        **errors.settings(),
    }
    return Consumer(config)


def _process(
    message: Message, options: Options, store: ChargeStore, stats: Stats, tracker: _EndTracker
) -> bool:
    """Handle one message; True when it was a record (not an event such as partition EOF)."""
    error = message.error()
    if error is not None:
        if error.code() == KafkaError._PARTITION_EOF:
            tracker.at_end.add((message.topic() or "", message.partition() or 0))
            return False
        if error.code() == KafkaError.FENCED_INSTANCE_ID:
            raise ConsumerError(
                f"another consumer uses instance id {options.instance}: pass a distinct "
                "--instance-id"
            )
        raise ConsumerError(f"Kafka error: {error.str()}")
    tracker.at_end.discard((message.topic() or "", message.partition() or 0))
    stats.received += 1
    outcome = to_charge(message, options.event_type)
    if outcome is None:
        stats.ignored += 1
    elif isinstance(outcome, str):
        stats.malformed += 1
    elif store.charge(outcome, idempotent=options.mode == IDEMPOTENT):
        stats.charged += 1
    else:
        stats.skipped_seen += 1
    return True


def consume(options: Options) -> Stats:
    """Run until the end of the topics (stop_at_end), an idle timeout, or a deliberate crash."""
    store = open_store(options.database)
    tracker, stats = _EndTracker(), Stats()
    # a fatal error (FENCED) also comes out of consume() as a message, and _process raises it
    errors = ClientErrors(f"Kafka consumer {options.instance}", "retrying", fatal_raised=True)
    consumer = _consumer(options, errors)
    consumer.subscribe(
        list(options.topics), on_assign=tracker.on_assign, on_revoke=tracker.on_revoke
    )
    processed, last_message = 0, time.monotonic()
    try:
        while True:
            messages = consumer.consume(num_messages=BATCH_SIZE, timeout=POLL_TIMEOUT_S)
            for message in messages:
                if not _process(message, options, store, stats, tracker):
                    continue
                errors.got_through("receiving")
                processed += 1
                last_message = time.monotonic()
                every = options.crash_after_process_every
                if every and processed % every == 0:
                    # written to the database, offset not committed: the broker redelivers
                    os._exit(CRASH_EXIT_CODE)
                consumer.commit(message=message, asynchronous=False)
                stats.commits += 1
            if options.stop_at_end and tracker.done():
                break
            idle = time.monotonic() - last_message
            if options.idle_timeout_s and idle >= options.idle_timeout_s:
                break
    except KafkaException as exc:
        raise ConsumerError(f"Kafka error: {exc}") from None
    finally:
        consumer.close()
        store.close()
    return stats


def supervise(argv: Sequence[str], max_restarts: int) -> tuple[int, int]:
    """Run the consumer in a child process, restarting it after each deliberate crash.

    Returns (the last run's exit code, restarts after crashes).
    """
    restarts = 0
    while True:
        code = subprocess.call([sys.executable, "-m", "kafka_dedup.cli", *argv])
        if code != CRASH_EXIT_CODE:
            return code, restarts
        restarts += 1
        if restarts > max_restarts:
            raise ConsumerError(f"the consumer crashed {restarts} times (limit --max-restarts)")
