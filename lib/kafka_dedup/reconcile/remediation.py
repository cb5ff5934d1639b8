"""Remediation messages: one per finding, keyed by event_id, sent by an idempotent producer.

No Spark here: the downstream consumer imports this module's names.

Each message carries a `remediation_id` derived from the finding itself, so a consumer can
drop the copy that a re-run of the same date publishes again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kafka_dedup.domain import REPLAY as REPLAY  # re-exported: the consumer reads it here
from kafka_dedup.errors import UserError
from kafka_dedup.kafka import admin
from kafka_dedup.kafka.producer import EventProducer

PRODUCER_ID = "kafka-dedup-reconcile"
EVENT_PAYLOAD = "event_payload"  # replay messages carry the event's payload to charge again
IDENTITY_FIELDS = ("run_date", "source", "finding_type", "event_id", "field", "effect_ids")


class RemediationError(UserError):
    """The remediation topic cannot be used."""


def check_topic(bootstrap_servers: str, topic: str) -> None:
    """Fail before the run writes anything when the topic is missing or Kafka unreachable."""
    if topic not in admin.topic_names(bootstrap_servers):
        raise RemediationError(
            f"remediation topic {topic!r} does not exist on {bootstrap_servers}: create it or "
            "unset reconcile.remediation_topic"
        )


def plain(value: Any) -> Any:
    """JSON-ready: dates and times as ISO-8601 text, sequences as lists."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def message(finding: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of one remediation message."""
    body = {name: plain(value) for name, value in finding.items()}
    identity = json.dumps([body.get(f) for f in IDENTITY_FIELDS], sort_keys=True)
    return {"remediation_id": hashlib.sha256(identity.encode()).hexdigest()[:32], **body}


def publish(bootstrap_servers: str, topic: str, findings: Iterable[Mapping[str, Any]]) -> int:
    """Send one message per finding; returns how many the broker acknowledged."""
    with EventProducer(bootstrap_servers, PRODUCER_ID) as producer:
        for finding in findings:
            body = message(finding)
            key = body["event_id"].encode("utf-8") if body.get("event_id") else None
            value = json.dumps(body, sort_keys=True).encode("utf-8")
            headers = [("remediation_id", body["remediation_id"].encode())]
            producer.send_raw(topic, key, value, headers=headers)
    return producer.delivered
