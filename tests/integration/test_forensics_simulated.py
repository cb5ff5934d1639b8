"""Ready queries against tables the real ingest built from the simulator's seeded stream.

Produced in two phases (main, then late behind the watermark) into the session's broker and
ingested with available-now after each; every expected row comes from the manifest.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.forensics import engines, gaps, queries, trace
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.history import AsOf
from kafka_dedup.forensics.output import Report, Result
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish, simulator
from tests.integration import forensics_truth as truth
from tests.integration.forensics_fixtures import table_path
from tests.integration.ingest_helpers import ingest_config

SEED = 7
EVENTS = 150
TOPIC = "orders-forensics"
# more duplicates than the defaults, so that some events have three copies
MIX = simulator.Mix(
    producer_retry=0.2,
    app_resend=0.15,
    replay=0.1,
    malformed=0.05,
    late_duplicate=0.03,
    late_unique=0.03,
)


@dataclass
class Simulated:
    config: Config
    stream: simulator.Stream
    coordinates: dict[int, truth.Coordinates]
    at: dict[truth.Coordinates, datetime]
    between_phases: datetime

    def copies(
        self, phases: tuple[str, ...] = (simulator.MAIN, simulator.LATE)
    ) -> list[truth.Copy]:
        return truth.copies(self.stream, self.coordinates, self.at, phases)


@pytest.fixture(scope="module")
def simulated(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path_factory
) -> Simulated:
    root = tmp_path_factory.mktemp("forensics-sim")
    config = ingest_config(base_config, root, kafka_bootstrap, TOPIC)
    publish.ensure_topic(kafka_bootstrap, TOPIC, partitions=3)
    stream = simulator.generate(EVENTS, SEED, MIX)
    coordinates = publish.publish(stream, kafka_bootstrap, TOPIC, (simulator.MAIN,))
    run_ingest(spark, config)
    between = datetime.now(timezone.utc)
    time.sleep(1.1)  # the late phase's commits come clearly after `between`
    coordinates.update(publish.publish(stream, kafka_bootstrap, TOPIC, (simulator.LATE,)))
    run_ingest(spark, config)
    at = truth.kafka_timestamps(config.storage.warehouse)
    return Simulated(config, stream, coordinates, at, between)


@pytest.fixture
def duck(simulated: Simulated) -> Iterator[Engine]:
    with engines.open_engine(simulated.config, "duckdb") as engine:
        yield engine


def section(report: Report, name: str) -> Result:
    return next(s.result for s in report.sections if s.name == name)


def pick(result: Result, columns: list[str]) -> list[tuple[Any, ...]]:
    index = [result.columns.index(c) for c in columns]
    return [tuple(row[i] for i in index) for row in result.rows()]


def malformed(sim: Simulated, phases: tuple[str, ...]) -> list[int]:
    return [
        i
        for i, r in enumerate(sim.stream.records)
        if r.cls == simulator.MALFORMED and r.phase in phases
    ]


def expected_overall(sim: Simulated, phases: tuple[str, ...]) -> tuple[Any, ...]:
    copies = sim.copies(phases)
    bad = len(malformed(sim, phases))
    unique = sum(c.copy_number == 1 for c in copies)
    extra = len(copies) - unique
    with_duplicates = sum(c.copy_number == 2 for c in copies)
    max_copies = max(c.copies for c in copies)
    return (len(copies) + bad, bad, len(copies), unique, extra, 100 * extra / len(copies),
            with_duplicates, max_copies)  # fmt: skip


def test_summary(duck: Engine, simulated: Simulated) -> None:
    report = queries.summary(duck)
    copies = simulated.copies()
    summary = simulator.summary(simulated.stream, SEED)
    both = (simulator.MAIN, simulator.LATE)
    assert section(report, "overall").rows() == [expected_overall(simulated, both)]
    assert section(report, "by_partition").rows() == truth.rate_rows(copies, "partition")
    assert section(report, "by_producer").rows() == truth.rate_rows(copies, "producer")
    assert section(report, "by_hour").rows() == truth.rate_rows(copies, "hour")
    reasons: dict[str, list[datetime]] = {}
    for i in malformed(simulated, both):
        reason = simulated.stream.records[i].reason or ""
        reasons.setdefault(reason, []).append(simulated.at[simulated.coordinates[i]])
    assert section(report, "quarantine").rows() == sorted(
        ((r, len(t), min(t), max(t)) for r, t in reasons.items()), key=lambda x: (-x[1], x[0])
    )
    assert {r: n for r, n, *_ in section(report, "quarantine").rows()} == summary[
        "quarantine_by_reason"
    ]
    late_records = sum(1 for r in simulated.stream.records if r.phase == simulator.LATE)
    assert section(report, "late").rows() == [(late_records, summary["late_unique_events"], 0)]


def test_top_keys(duck: Engine, simulated: Simulated) -> None:
    report = queries.top_keys(duck, top=5)
    assert section(report, "keys").rows() == truth.top_keys(simulated.copies(), 5)
    assert section(report, "producers").rows() == truth.top_producers(simulated.copies(), 5)


def test_gaps(duck: Engine, simulated: Simulated) -> None:
    later = [c for c in simulated.copies() if c.copy_number > 1]
    values = [c.gap_ms for c in later]
    report = gaps.gaps(duck, watermark="1 hour")
    pcts = [truth.percentile(values, f) for f in (0.5, 0.9, 0.99)]
    beyond = sum(v > 3_600_000 for v in values)
    assert section(report, "stats").rows() == [
        (len(values), min(values), *pcts, max(values), 3_600_000, beyond)
    ]
    counts = Counter(
        next(label for _, label, lo, hi in gaps.BUCKETS if lo <= v < hi) for v in values
    )
    assert [(b, n) for b, n, _ in section(report, "distribution").rows()] == [
        (label, counts[label]) for _, label, _, _ in gaps.BUCKETS
    ]
    causes = sorted({c.cause for c in later})
    assert [row[:2] for row in section(report, "by_cause").rows()] == [
        (cause, sum(c.cause == cause for c in later)) for cause in causes
    ]
    assert report.notes[-1].startswith("watermark delay 1 hour is wide enough")


def _state_oracle(sim: Simulated, key: str) -> list[tuple[Any, ...]]:
    """Distinct entity_state rows of a key across versions, read version by version."""
    path = table_path(sim.config.storage.warehouse, tables.ENTITY_STATE)
    table = DeltaTable(path)
    seen: dict[tuple[Any, ...], list[int]] = {}
    for version in range(table.version() + 1):
        table.load_as_version(version)
        # deltalake's own scan applies entity_state's deletion vectors
        for row in pa.table(table.scan()).to_pylist():
            if row["key"] == key:
                state = (row["event_id"], row["sequence"], row["updated_at"])
                seen.setdefault(state, []).append(version)
    return sorted((min(v), max(v), s[0], s[1]) for s, v in seen.items())


def test_trace_of_the_most_duplicated_key(duck: Engine, simulated: Simulated) -> None:
    key = truth.top_keys(simulated.copies(), 1)[0][0]
    report = trace.trace(duck, key=key)
    by_index = {c.index: c for c in simulated.copies()}
    records = [
        i
        for i, r in enumerate(simulated.stream.records)
        if r.raw_key == key.encode() and i in simulated.coordinates
    ]
    records.sort(key=lambda i: (simulated.at[simulated.coordinates[i]], simulated.coordinates[i]))
    expected = []
    for i in records:
        c = by_index.get(i)
        kept = c is not None and c.copy_number == 1 and c.record.cls != simulator.LATE_UNIQUE
        row = (c.copy_number, c.cause) if c else (None, None)
        expected.append((simulated.coordinates[i][2], *row, kept))
    columns = ["offset", "copy_number", "likely_cause", "kept_in_events"]
    assert pick(section(report, "deliveries"), columns) == expected
    first_copies = {
        (c.record.event_id): c.coords[2] for c in by_index.values() if c.copy_number == 1
    }
    events = [e for e in simulated.stream.events if e["key"] == key and not e["late"]]
    events.sort(key=lambda e: (e["event_time"], e["event_id"]))
    assert pick(section(report, "events"), ["event_id", "offset"]) == [
        (e["event_id"], first_copies[e["event_id"]]) for e in events
    ]
    state_columns = ["from_version", "until_version", "event_id", "sequence"]
    assert pick(section(report, "entity_state"), state_columns) == _state_oracle(simulated, key)
    quarantined = [
        (simulated.coordinates[i][2], simulated.stream.records[i].reason)
        for i in records
        if i not in by_index
    ]
    assert pick(section(report, "quarantine"), ["offset", "reason"]) == quarantined
    assert section(report, "findings").rows() == []


def test_trace_of_an_event_with_three_copies(duck: Engine, simulated: Simulated) -> None:
    three = [c for c in simulated.copies() if c.copies == 3]
    event_id = min(c.record.event_id or "" for c in three)
    expected = sorted(
        (c for c in three if c.record.event_id == event_id), key=lambda c: c.copy_number
    )
    report = trace.trace(duck, event_id=event_id)
    columns = ["offset", "copy_number", "gap_ms", "likely_cause", "producer_id", "kept_in_events"]
    assert pick(section(report, "deliveries"), columns) == [
        (c.coords[2], c.copy_number, c.gap_ms, c.cause, c.record.producer_id, c.copy_number == 1)
        for c in expected
    ]
    assert len(expected) == 3


def test_as_of_between_the_phases_sees_only_the_main_phase(simulated: Simulated) -> None:
    with engines.open_engine(simulated.config, "duckdb", AsOf(simulated.between_phases)) as past:
        report = queries.summary(past)
    assert section(report, "overall").rows() == [expected_overall(simulated, (simulator.MAIN,))]
    assert section(report, "late").rows() == [(0, 0, 0)]


def answers(reports: list[Report]) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    return [(s.name, s.result.columns, s.result.rows()) for r in reports for s in r.sections]


def test_spark_and_duckdb_agree_on_every_ready_query(
    simulated: Simulated, spark: SparkSession
) -> None:
    key = truth.top_keys(simulated.copies(), 1)[0][0]
    event_id = next(c.record.event_id for c in simulated.copies() if c.copies == 3)

    def ready(engine: Engine) -> list[Report]:
        return [
            queries.summary(engine),
            queries.top_keys(engine),
            gaps.gaps(engine),
            trace.trace(engine, key=key),
            trace.trace(engine, event_id=event_id),
        ]

    as_of = AsOf(simulated.between_phases)
    with engines.open_engine(simulated.config, "duckdb") as duck_now:
        expected = answers(ready(duck_now))
    with engines.open_engine(simulated.config, "duckdb", as_of) as duck_then:
        expected_then = answers([queries.summary(duck_then)])
    with engines.open_engine(simulated.config, "spark", spark=spark) as spark_now:
        assert answers(ready(spark_now)) == expected
    with engines.open_engine(simulated.config, "spark", as_of, spark=spark) as spark_then:
        assert answers([queries.summary(spark_then)]) == expected_then
