"""Expected forensics answers computed from the simulator's manifest, independently of SQL.

The only input not in the manifest is each record's Kafka timestamp (the broker's clock at
send time); it is read from the raw `deliveries` table with pyarrow.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from deltalake import DeltaTable

from kafka_dedup import tables
from kafka_dedup.kafka import simulator
from kafka_dedup.kafka.simulator import Record
from tests.integration.forensics_fixtures import table_path

RETRY, RESEND, FIRST = "producer retry", "application resend", "first copy"
# Same bytes again (same producer, payload and envelope) reads as a producer retry; a new
# producer_id as an application resend.
CAUSES = {
    simulator.PRODUCER_RETRY: RETRY,
    simulator.REPLAY: RETRY,
    simulator.LATE_DUPLICATE: RETRY,
    simulator.APP_RESEND: RESEND,
}
FIRST_CLASSES = (simulator.ORIGINAL, simulator.OUT_OF_ORDER, simulator.LATE_UNIQUE)
Coordinates = tuple[str, int, int]


@dataclass(frozen=True)
class Copy:
    index: int
    record: Record
    coords: Coordinates
    at: datetime
    copy_number: int
    copies: int
    gap_ms: int
    cause: str


def kafka_timestamps(warehouse: str) -> dict[Coordinates, datetime]:
    path = table_path(warehouse, tables.DELIVERIES)
    columns = ["topic", "partition", "offset", "kafka_timestamp"]
    rows = DeltaTable(path).to_pyarrow_dataset().to_table(columns=columns).to_pylist()
    return {
        (r["topic"], r["partition"], r["offset"]): r["kafka_timestamp"].astimezone(timezone.utc)
        for r in rows
    }


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def copies(
    stream: simulator.Stream,
    coordinates: dict[int, Coordinates],
    at: dict[Coordinates, datetime],
    phases: tuple[str, ...] = (simulator.MAIN, simulator.LATE),
) -> list[Copy]:
    """Every valid record sent, numbered within its (key, event_id) in first-seen order."""
    groups: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for index, record in enumerate(stream.records):
        if record.cls != simulator.MALFORMED and record.phase in phases:
            groups[(record.key, record.event_id)].append(index)
    result = []
    for members in groups.values():
        members.sort(key=lambda i: (at[coordinates[i]], coordinates[i]))
        first = stream.records[members[0]]
        assert first.cls in FIRST_CLASSES, first  # the truth itself must be consistent
        first_ms = ms(at[coordinates[members[0]]])
        for number, index in enumerate(members, start=1):
            record, coords = stream.records[index], coordinates[index]
            cause = FIRST if number == 1 else CAUSES[record.cls]
            gap = ms(at[coords]) - first_ms
            result.append(Copy(index, record, coords, at[coords], number, len(members), gap, cause))
    return result


def rate_rows(all_copies: list[Copy], group: str) -> list[tuple[object, ...]]:
    """by_partition / by_producer / by_hour rows: group, valid, duplicates, percent."""
    counts: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0])
    for c in all_copies:
        if group == "partition":
            label: tuple[object, ...] = c.coords[:2]
        elif group == "producer":
            label = (c.record.producer_id,)
        else:
            label = (c.at.replace(minute=0, second=0, microsecond=0),)
        counts[label][0] += 1
        counts[label][1] += c.copy_number > 1
    nulls_first = sorted(counts.items(), key=lambda kv: [(v is not None, v) for v in kv[0]])
    return [(*label, n, d, 100 * d / n) for label, (n, d) in nulls_first]


def percentile(values: list[int], fraction: float) -> int | None:
    """Linear interpolation between closest ranks, rounded half up (both engines' rule)."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (position - low) * (ordered[high] - ordered[low])
    return math.floor(value + 0.5)


def top_keys(all_copies: list[Copy], top: int) -> list[tuple[object, ...]]:
    by_key: dict[str, list[Copy]] = defaultdict(list)
    for c in all_copies:
        if c.copies > 1 and c.record.key is not None:
            by_key[c.record.key].append(c)
    rows = []
    for key, members in by_key.items():
        events = {c.record.event_id for c in members}
        producers = {c.record.producer_id for c in members if c.record.producer_id}
        rows.append(
            (
                key,
                len(events),
                len(members) - len(events),
                max(c.copies for c in members),
                len(producers),
                min(c.at for c in members),
                max(c.at for c in members),
            )
        )
    rows.sort(key=lambda r: (-r[2], r[0]))
    return rows[:top]


def top_producers(all_copies: list[Copy], top: int) -> list[tuple[object, ...]]:
    by_producer: dict[str | None, list[Copy]] = defaultdict(list)
    for c in all_copies:
        if c.copy_number > 1:
            by_producer[c.record.producer_id].append(c)
    rows = [
        (
            producer,
            len(members),
            len({c.record.key for c in members}),
            sum(c.cause == RETRY for c in members),
            sum(c.cause == RESEND for c in members),
        )
        for producer, members in by_producer.items()
    ]
    rows.sort(key=lambda r: (-r[1], r[0] or ""))
    return rows[:top]
