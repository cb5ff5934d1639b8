"""A seeded order stream with every real cause of Kafka duplicates (its truth: kafka.truth).

Same seed and options -> the same records (keys, values, order). Phase `main` is the normal
stream with in-window duplicates; phase `late` holds records whose event time is far behind
the stream, to be sent after the main phase was ingested so the watermark has moved past them.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kafka_dedup.kafka.producer import Event, encode
from kafka_dedup.kafka.truth import (
    APP_RESEND,
    DEFAULT_START,
    DUPLICATE_CLASSES,
    LATE,
    LATE_DUPLICATE,
    LATE_UNIQUE,
    LIFECYCLE,
    MAIN,
    MALFORMED,
    MALFORMED_KINDS,
    ORIGINAL,
    OUT_OF_ORDER,
    PRODUCER_RETRY,
    REPLAY,
    Mix,
    Record,
    Stream,
    expected_events,
    expected_state,
    manifest_lines,
    summary,
)

# the model and truth are read through this module too (simulator.MAIN, simulator.summary)
__all__ = [
    "APP_RESEND",
    "DEFAULT_START",
    "DUPLICATE_CLASSES",
    "LATE",
    "LATE_DUPLICATE",
    "LATE_UNIQUE",
    "LIFECYCLE",
    "MAIN",
    "MALFORMED",
    "MALFORMED_KINDS",
    "ORIGINAL",
    "OUT_OF_ORDER",
    "PRODUCER_RETRY",
    "REPLAY",
    "Mix",
    "Record",
    "Stream",
    "expected_events",
    "expected_state",
    "manifest_lines",
    "summary",
    "generate",
]


def _uuid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def _record(phase: str, cls: str, event: Event, producer: str, send_at: float) -> Record:
    return Record(
        phase=phase,
        cls=cls,
        key=event.key,
        raw_key=event.key.encode(),
        value=encode(event, producer),
        send_at=send_at,
        event_id=event.event_id,
        event_type=event.event_type,
        sequence=event.sequence,
        event_time=event.envelope(None)["event_time"],
        producer_id=producer,
    )


def _truth(event: Event, producer: str, late: bool) -> dict[str, Any]:
    return {
        "key": event.key,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "event_time": event.envelope(None)["event_time"],
        "sequence": event.sequence,
        "producer_id": producer,
        "amount": event.payload.get("amount"),
        "late": late,
    }


def _lifecycles(
    rng: random.Random, n_events: int, start: datetime, span_s: float
) -> list[list[Event]]:
    n_keys = max(1, -(-n_events // len(LIFECYCLE)))
    step = span_s / n_keys
    keys: list[list[Event]] = []
    for k in range(n_keys):
        created = start + timedelta(seconds=k * step + rng.uniform(0, step))
        amount = round(rng.uniform(5, 500), 2)
        offsets = (0.0, rng.uniform(30, 300), rng.uniform(600, 1800))
        stages = min(len(LIFECYCLE), n_events - k * len(LIFECYCLE))
        keys.append(
            [
                Event(
                    key=f"order-{k:06d}",
                    event_type=LIFECYCLE[s][0],
                    event_time=created + timedelta(seconds=offsets[s]),
                    payload={"amount": amount, "currency": "EUR"},
                    sequence=s + 1,
                    event_id=_uuid(rng),
                )
                for s in range(stages)
            ]
        )
    return keys


def _malformed(rng: random.Random, kind: str, key: str, start: datetime, send_at: float) -> Record:
    event = Event(key, "order.created", start + timedelta(seconds=send_at), {}, 1, _uuid(rng))
    body = event.envelope("checkout-1")
    raw_key: bytes | None = key.encode()
    if kind == "invalid_json":
        value = b'{"event_id": "' + event.event_id.encode() + b'", "event_type": '
    elif kind == "missing_event_id":
        value = json.dumps({k: v for k, v in body.items() if k != "event_id"}).encode()
    elif kind == "invalid_event_time":
        value = json.dumps({**body, "event_time": "25/11/2026 10h"}).encode()
    elif kind == "missing_key":
        raw_key, value = None, json.dumps(body).encode()
    else:  # invalid_utf8: Latin-1 bytes where UTF-8 is expected
        note = {**body, "payload": {"note": "caf\u00e9"}}
        value = json.dumps(note, ensure_ascii=False).encode("latin-1")
    return Record(
        MAIN,
        MALFORMED,
        key if raw_key else None,
        raw_key,
        value,
        send_at,
        reason=kind,
        event_id=event.event_id,
    )


def generate(
    n_events: int,
    seed: int,
    mix: Mix | None = None,
    start: datetime = DEFAULT_START,
    span_s: float = 6 * 3600,
) -> Stream:
    """Build the whole stream (both phases) deterministically from the seed."""
    mix = mix or Mix()
    rng = random.Random(seed)
    lifecycles = _lifecycles(rng, n_events, start, span_s)
    records: list[Record] = []
    truth: list[dict[str, Any]] = []

    def producer_of(stage: int, instance: int = 1) -> str:
        return f"{LIFECYCLE[stage][1]}-{instance}"

    for events in lifecycles:
        reorder = len(events) == 3 and rng.random() < mix.out_of_order
        for stage, event in enumerate(events):
            send_at = (event.event_time - start).total_seconds()
            cls = ORIGINAL
            if reorder and stage == 1:  # paid (seq 2) goes out after shipped (seq 3)
                send_at = (events[2].event_time - start).total_seconds() + 1
                cls = OUT_OF_ORDER
            records.append(_record(MAIN, cls, event, producer_of(stage), send_at))
            truth.append(_truth(event, producer_of(stage), late=False))
        if rng.random() < mix.replay:
            last = (events[-1].event_time - start).total_seconds()
            records.append(_record(MAIN, REPLAY, events[0], producer_of(0), last + 5))
    originals = [i for i, r in enumerate(records) if r.cls in (ORIGINAL, OUT_OF_ORDER)]
    for index in rng.sample(originals, round(len(originals) * mix.producer_retry)):
        original = records[index]
        records.append(replace(original, cls=PRODUCER_RETRY, send_at=original.send_at + 0.001))
    for index in rng.sample(originals, round(len(originals) * mix.app_resend)):
        original = records[index]
        stage = [t for t, _ in LIFECYCLE].index(original.event_type or "")
        event = _event_of(original, start)
        resend = _record(
            MAIN, APP_RESEND, event, producer_of(stage, 2), original.send_at + rng.uniform(30, 600)
        )
        records.append(resend)
    for n in range(round(n_events * mix.malformed)):
        kind = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
        key = f"order-{rng.randrange(len(lifecycles)):06d}"
        records.append(_malformed(rng, kind, key, start, rng.uniform(0, span_s)))
    records.sort(key=lambda r: r.send_at)
    _add_late_phase(rng, records, truth, lifecycles, mix, n_events, start)
    return Stream(records, truth, start)


def _event_of(record: Record, start: datetime) -> Event:
    body = json.loads(record.value or b"{}")
    return Event(
        key=record.key or "",
        event_type=body["event_type"],
        event_time=datetime.fromisoformat(body["event_time"].replace("Z", "+00:00")),
        payload=body.get("payload", {}),
        sequence=body.get("sequence"),
        event_id=body["event_id"],
    )


def _add_late_phase(
    rng: random.Random,
    records: list[Record],
    truth: list[dict[str, Any]],
    lifecycles: list[list[Event]],
    mix: Mix,
    n_events: int,
    start: datetime,
) -> None:
    """Late copies of the earliest events, and new events dated at the stream's start."""
    end = max(r.send_at for r in records) if records else 0.0
    earliest = [r for r in records if r.cls == ORIGINAL and r.sequence == 1]
    for n, original in enumerate(earliest[: round(n_events * mix.late_duplicate)]):
        records.append(replace(original, phase=LATE, cls=LATE_DUPLICATE, send_at=end + 10 + n))
    for n in range(round(n_events * mix.late_unique)):
        event = Event(
            key=f"order-{len(lifecycles) + n:06d}",
            event_type="order.created",
            event_time=start + timedelta(seconds=60 + n),
            payload={"amount": round(rng.uniform(5, 500), 2), "currency": "EUR"},
            sequence=1,
            event_id=_uuid(rng),
        )
        records.append(_record(LATE, LATE_UNIQUE, event, "checkout-1", end + 100 + n))
        truth.append(_truth(event, "checkout-1", late=True))
