"""End to end: the simulator's stream, produced in two phases, ingested with available-now.

The late phase is produced after the main phase was ingested, so the watermark has moved
past it: the test checks that its rows were counted as late and kept out of `events`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import IngestResult, run_ingest
from kafka_dedup.kafka import publish, simulator
from tests.integration.ingest_helpers import (
    expected_events,
    expected_state,
    ingest_config,
    read,
    sent_records,
    table_version,
)

EVENTS = 240
SEED = 20261125


@dataclass
class Ingested:
    config: Config
    stream: simulator.Stream
    coordinates: publish.Coordinates
    main: IngestResult
    late: IngestResult


@pytest.fixture(scope="module")
def ingested(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path_factory
) -> Ingested:
    root = tmp_path_factory.mktemp("e2e")
    topic = "orders-e2e"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=3)
    stream = simulator.generate(EVENTS, SEED)
    config = ingest_config(base_config, root, kafka_bootstrap, topic)
    coordinates = publish.publish(stream, kafka_bootstrap, topic, (simulator.MAIN,))
    main = run_ingest(spark, config)
    coordinates.update(publish.publish(stream, kafka_bootstrap, topic, (simulator.LATE,)))
    late = run_ingest(spark, config)
    return Ingested(config, stream, coordinates, main, late)


def test_every_offset_is_in_deliveries_exactly_once(
    spark: SparkSession, ingested: Ingested
) -> None:
    rows = read(spark, ingested.config, tables.DELIVERIES)
    seen = Counter((r.topic, r.partition, r.offset) for r in rows)
    assert set(seen.values()) == {1}
    assert set(seen) == set(ingested.coordinates.values())
    assert len(rows) == len(ingested.stream.records)


def test_quarantine_holds_each_malformed_record_with_its_reason(
    spark: SparkSession, ingested: Ingested
) -> None:
    expected = Counter(
        (ingested.coordinates[i], r.reason)
        for i, r in enumerate(ingested.stream.records)
        if r.cls == simulator.MALFORMED
    )
    rows = read(spark, ingested.config, tables.QUARANTINE)
    actual = Counter(((r.topic, r.partition, r.offset), r.reason) for r in rows)
    assert actual == expected
    assert set(reason for _, reason in expected) == set(simulator.MALFORMED_KINDS)


def test_events_hold_each_unique_event_once_and_not_the_late_ones(
    spark: SparkSession, ingested: Ingested
) -> None:
    rows = read(spark, ingested.config, tables.EVENTS)
    keys = Counter((r.key, r.event_id) for r in rows)
    assert set(keys.values()) == {1}
    assert set(keys) == expected_events(ingested.stream, include_late=False)
    assert {r.merged_by for r in rows} == {"stream"}


def test_events_keep_coordinates_of_a_real_delivery(
    spark: SparkSession, ingested: Ingested
) -> None:
    deliveries = {
        (r.topic, r.partition, r.offset): (r.key, r.event_id)
        for r in read(spark, ingested.config, tables.DELIVERIES)
    }
    for row in read(spark, ingested.config, tables.EVENTS):
        assert deliveries[(row.topic, row.partition, row.offset)] == (row.key, row.event_id)


def test_entity_state_is_the_latest_version_per_key(
    spark: SparkSession, ingested: Ingested
) -> None:
    rows = read(spark, ingested.config, tables.ENTITY_STATE)
    actual = {r.key: (r.event_id, r.sequence) for r in rows}
    assert len(rows) == len(actual)
    assert actual == expected_state(ingested.stream, include_late=False)


def test_late_rows_were_really_late(spark: SparkSession, ingested: Ingested) -> None:
    late_records = sent_records(ingested.stream, (simulator.LATE,))
    assert ingested.main.totals.late_rows == 0
    assert ingested.late.totals.late_rows == len(late_records) > 0
    assert ingested.late.totals.rows_inserted == 0
    # they stay in deliveries for the nightly run
    delivered = {(r.key, r.event_id) for r in read(spark, ingested.config, tables.DELIVERIES)}
    assert {(r.key, r.event_id) for r in late_records} <= delivered


def test_run_totals_match_the_manifest(ingested: Ingested) -> None:
    summary = simulator.summary(ingested.stream, SEED)
    main_records = sent_records(ingested.stream, (simulator.MAIN,))
    malformed = summary["records_by_class"][simulator.MALFORMED]
    unique_main = summary["unique_events"] - summary["late_unique_events"]
    totals = ingested.main.totals
    assert totals.records_read == len(main_records)
    assert totals.malformed == malformed
    assert totals.rows_inserted == unique_main
    assert totals.duplicates_removed_by_state + totals.duplicates_caught_by_merge == (
        len(main_records) - malformed - unique_main
    )


def test_ingest_batches_record_every_batch(spark: SparkSession, ingested: Ingested) -> None:
    rows = read(spark, ingested.config, tables.INGEST_BATCHES)
    runs = {ingested.main.run_id, ingested.late.run_id}
    assert {r.run_id for r in rows} == runs
    read_total = sum(r.records_read for r in rows if r.query == "deliveries")
    assert read_total == len(ingested.stream.records)
    assert sum(r.late_rows for r in rows) == ingested.late.totals.late_rows
    assert sum(r.rows_inserted for r in rows) == ingested.main.totals.rows_inserted


def test_second_available_now_run_changes_nothing(spark: SparkSession, ingested: Ingested) -> None:
    names = (tables.DELIVERIES, tables.EVENTS, tables.ENTITY_STATE, tables.QUARANTINE)
    before = {name: table_version(spark, ingested.config, name) for name in names}
    again = run_ingest(spark, ingested.config)
    assert again.totals.records_read == 0
    assert {name: table_version(spark, ingested.config, name) for name in names} == before


def test_tables_are_in_the_catalog(spark: SparkSession, ingested: Ingested) -> None:
    database = ingested.config.storage.database
    count = spark.sql(f"SELECT count(*) AS n FROM {database}.events").first()
    assert count is not None
    assert count.n == len(expected_events(ingested.stream, include_late=False))
