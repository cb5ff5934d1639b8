"""The simulated stream's model and its ground truth: record classes, `Record` and `Stream`,
and what the tables must hold once it is ingested (events, entity states), as a manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

MAIN, LATE = "main", "late"
ORIGINAL = "original"
PRODUCER_RETRY = "producer_retry"  # same bytes twice: a non-idempotent producer after a lost ack
APP_RESEND = "app_resend"  # same event_id, new producer_id and Kafka timestamp
OUT_OF_ORDER = "out_of_order"  # a newer version sent before an older one
REPLAY = "replay"  # an old version sent again after the newest
LATE_DUPLICATE = "late_duplicate"
LATE_UNIQUE = "late_unique"
MALFORMED = "malformed"
DUPLICATE_CLASSES = (PRODUCER_RETRY, APP_RESEND, REPLAY, LATE_DUPLICATE)
LIFECYCLE = (
    ("order.created", "checkout"),
    ("order.paid", "payments"),
    ("order.shipped", "fulfillment"),
)
MALFORMED_KINDS = (
    "invalid_json",
    "missing_event_id",
    "invalid_event_time",
    "missing_key",
    "invalid_utf8",
)
DEFAULT_START = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
Coordinates = dict[int, tuple[str, int, int]]  # record index -> (topic, partition, offset)


@dataclass(frozen=True)
class Mix:
    """Rates, each a fraction of the logical events (out_of_order and replay: of the keys)."""

    producer_retry: float = 0.05
    app_resend: float = 0.03
    out_of_order: float = 0.10
    replay: float = 0.05
    malformed: float = 0.02
    late_duplicate: float = 0.01
    late_unique: float = 0.01


@dataclass
class Record:
    """One Kafka record to send, with its class for the manifest."""

    phase: str
    cls: str
    key: str | None
    raw_key: bytes | None
    value: bytes | None
    send_at: float  # seconds from the stream start; orders the sends
    event_id: str | None = None
    event_type: str | None = None
    sequence: int | None = None
    event_time: str | None = None
    producer_id: str | None = None
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Stream:
    records: list[Record]
    events: list[dict[str, Any]]  # the unique valid events (ground truth of `events`)
    start: datetime


def expected_events(events: list[dict[str, Any]], include_late: bool) -> list[dict[str, Any]]:
    """The unique events `events` must hold (late ones only once the nightly run merged them)."""
    return [event for event in events if include_late or not event["late"]]


def expected_state(events: list[dict[str, Any]], include_late: bool) -> dict[str, dict[str, Any]]:
    """Latest version per key by sequence, then event_time (the entity_state ground truth)."""
    state: dict[str, dict[str, Any]] = {}
    for event in expected_events(events, include_late):
        current = state.get(event["key"])
        if current is None or (event["sequence"], event["event_time"]) > (
            current["sequence"],
            current["event_time"],
        ):
            state[event["key"]] = event
    return state


def manifest_lines(stream: Stream, coordinates: Coordinates, seed: int) -> list[str]:
    """The manifest as JSON lines: records, unique events, expected states, a summary."""
    lines = []
    for index, record in enumerate(stream.records):
        row = {
            k: v
            for k, v in asdict(record).items()
            if k not in ("raw_key", "value", "meta", "send_at", "headers")
        }
        topic, partition, offset = coordinates.get(index, (None, None, None))
        lines.append(
            {
                "type": "record",
                "index": index,
                **row,
                "topic": topic,
                "partition": partition,
                "offset": offset,
            }
        )
    lines += [{"type": "event", **event} for event in stream.events]
    for include_late, when in ((False, "after_ingest"), (True, "after_reconcile")):
        for key, event in sorted(expected_state(stream.events, include_late).items()):
            lines.append(
                {
                    "type": "state",
                    "when": when,
                    "key": key,
                    "event_id": event["event_id"],
                    "sequence": event["sequence"],
                    "event_type": event["event_type"],
                }
            )
    lines.append({"type": "summary", **summary(stream, seed)})
    return [json.dumps(line, sort_keys=True) for line in lines]


def summary(stream: Stream, seed: int) -> dict[str, Any]:
    by_class: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for record in stream.records:
        by_class[record.cls] = by_class.get(record.cls, 0) + 1
        if record.reason:
            reasons[record.reason] = reasons.get(record.reason, 0) + 1
    return {
        "seed": seed,
        "records": len(stream.records),
        "records_by_phase": {
            phase: sum(1 for r in stream.records if r.phase == phase) for phase in (MAIN, LATE)
        },
        "records_by_class": dict(sorted(by_class.items())),
        "unique_events": len(stream.events),
        "late_unique_events": sum(1 for e in stream.events if e["late"]),
        "quarantine_by_reason": dict(sorted(reasons.items())),
        "start": stream.start.isoformat(),
    }
