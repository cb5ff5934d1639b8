"""Compare every ingest table with the simulator's ground truth, exactly."""

from __future__ import annotations

from collections import Counter
from typing import Any

from kafka_dedup import tables
from kafka_dedup.kafka import truth
from kafka_dedup.kafka.truth import Coordinates
from kafka_dedup.warehouse import Warehouse

Offset = tuple[str, int, int]


def _rows(warehouse: Warehouse, name: str, *columns: str) -> list[Any]:
    return warehouse.read(name).select(*columns).collect()


def _deliveries(offsets: Counter[Offset], in_kafka: set[Offset]) -> list[str]:
    """Every offset Kafka holds in deliveries exactly once."""
    failures = []
    doubled = sum(1 for n in offsets.values() if n > 1)
    if doubled:
        failures.append(f"deliveries: {doubled} offsets written more than once")
    if set(offsets) != in_kafka:
        failures.append(
            f"deliveries: {len(in_kafka - set(offsets))} offsets of Kafka missing, "
            f"{len(set(offsets) - in_kafka)} not in Kafka"
        )
    return failures


def _differs(name: str, actual: Counter[Any], expected: Counter[Any]) -> list[str]:
    """One failure line when the two multisets differ."""
    if actual == expected:
        return []
    extra, missing = actual - expected, expected - actual
    return [f"{name}: {sum(extra.values())} extra or doubled, {sum(missing.values())} missing"]


def check_tables(
    warehouse: Warehouse,
    stream: truth.Stream,
    coordinates: Coordinates,
    end_offsets: dict[tuple[str, int], int],
) -> tuple[dict[str, int], list[str]]:
    """(rows checked per table, failures): offsets, quarantine, events and state vs truth."""
    offsets: Counter[Offset] = Counter(
        (r.topic, r.partition, r.offset)
        for r in _rows(warehouse, tables.DELIVERIES, "topic", "partition", "offset")
    )
    in_kafka = {(t, p, o) for (t, p), end in end_offsets.items() for o in range(end)}
    failures = _deliveries(offsets, in_kafka)
    if set(coordinates.values()) != in_kafka:
        failures.append("the producer's acknowledged offsets differ from what Kafka holds")
    columns = ("topic", "partition", "offset", "reason")
    quarantine: Counter[Any] = Counter(
        ((r.topic, r.partition, r.offset), r.reason)
        for r in _rows(warehouse, tables.QUARANTINE, *columns)
    )
    failures += _differs(
        tables.QUARANTINE,
        quarantine,
        Counter(
            (coordinates.get(i), r.reason)
            for i, r in enumerate(stream.records)
            if r.cls == truth.MALFORMED
        ),
    )
    events: Counter[Any] = Counter(
        (r.key, r.event_id) for r in _rows(warehouse, tables.EVENTS, "key", "event_id")
    )
    expected_events = truth.expected_events(stream.events, include_late=False)
    failures += _differs(
        tables.EVENTS, events, Counter((e["key"], e["event_id"]) for e in expected_events)
    )
    state_rows = _rows(warehouse, tables.ENTITY_STATE, "key", "event_id", "sequence")
    expected_state = truth.expected_state(stream.events, include_late=False)
    failures += _differs(
        tables.ENTITY_STATE,
        Counter((r.key, r.event_id, r.sequence) for r in state_rows),
        Counter((k, e["event_id"], e["sequence"]) for k, e in expected_state.items()),
    )
    checked = {
        "records_sent": len(stream.records),
        tables.DELIVERIES: sum(offsets.values()),
        tables.QUARANTINE: sum(quarantine.values()),
        tables.EVENTS: sum(events.values()),
        tables.ENTITY_STATE: len(state_rows),
    }
    return checked, failures
