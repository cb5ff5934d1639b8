"""Ready queries on a small hand-made warehouse whose every answer is worked out by hand.

The edges: a key with three copies (producer retry, then an application resend), copies with
no producer_id, a malformed record, a gap beyond the watermark, two ingest rounds to travel
back to, and no reconciliation tables at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from kafka_dedup.config import Config
from kafka_dedup.forensics import engines, gaps, queries, trace
from kafka_dedup.forensics.engine import Engine, EngineError, QueryError
from kafka_dedup.forensics.history import AsOf, AsOfError
from kafka_dedup.forensics.output import Report, Result
from tests.integration.forensics_fixtures import TOPIC, handmade_warehouse, ts

RETRY, RESEND, FIRST = "producer retry", "application resend", "first copy"


@pytest.fixture(scope="module")
def handmade(spark: SparkSession, base_config: Config, tmp_path_factory) -> Config:
    root = handmade_warehouse(spark, tmp_path_factory)
    storage = dataclasses.replace(base_config.storage, warehouse=str(root), database="fx_handmade")
    return dataclasses.replace(base_config, storage=storage)


@pytest.fixture
def duck(handmade: Config) -> Iterator[Engine]:
    with engines.open_engine(handmade, "duckdb") as engine:
        yield engine


def section(report: Report, name: str) -> Result:
    return next(s.result for s in report.sections if s.name == name)


def pick(result: Result, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    index = [result.columns.index(c) for c in columns]
    return [tuple(row[i] for i in index) for row in result.rows()]


def test_summary(duck: Engine) -> None:
    report = queries.summary(duck)
    assert section(report, "overall").rows() == [(8, 1, 7, 4, 3, 300 / 7, 2, 3)]
    assert section(report, "by_topic").rows() == [(TOPIC, 7, 3, 300 / 7)]
    assert section(report, "by_partition").rows() == [(TOPIC, 0, 6, 3, 50.0), (TOPIC, 1, 1, 0, 0.0)]
    assert section(report, "by_producer").rows() == [
        (None, 3, 1, 100 / 3),
        ("p1", 3, 1, 100 / 3),
        ("p2", 1, 1, 100.0),
    ]
    assert section(report, "by_hour").rows() == [(ts(10, 0), 5, 2, 40.0), (ts(11, 0), 2, 1, 50.0)]
    assert section(report, "quarantine").rows() == [("invalid_json", 1, ts(10, 6), ts(10, 6))]
    assert section(report, "late").rows() == [(1, 0, 0)]
    assert report.notes == []


def test_top_keys(duck: Engine) -> None:
    report = queries.top_keys(duck, top=10)
    assert section(report, "keys").rows() == [
        ("k1", 1, 2, 3, 2, ts(10, 0), ts(10, 5)),
        ("k2", 1, 1, 2, 0, ts(10, 2), ts(11, 30)),
    ]
    assert section(report, "producers").rows() == [
        (None, 1, 1, 1, 0),
        ("p1", 1, 1, 1, 0),
        ("p2", 1, 1, 0, 1),
    ]
    assert section(queries.top_keys(duck, top=1), "keys").rows()[0][0] == "k1"


def test_gaps_judge_the_watermark(duck: Engine) -> None:
    report = gaps.gaps(duck, watermark="1 hour")
    assert section(report, "stats").rows() == [
        (3, 2000, 300_000, 4_284_000, 5_180_400, 5_280_000, 3_600_000, 1)
    ]
    distribution = section(report, "distribution").rows()
    assert [(b, n) for b, n, _ in distribution if n] == [
        ("1 s - 10 s", 1),
        ("1 min - 10 min", 1),
        ("1 h - 6 h", 1),
    ]
    assert len(distribution) == len(gaps.BUCKETS)
    assert section(report, "by_cause").rows() == [
        (RESEND, 1, 300_000, 300_000, 300_000),
        (RETRY, 2, 2000, 2_641_000, 5_280_000),
    ]
    assert report.notes[-1].startswith("watermark delay 1 hour is too narrow: 1 of 3 later")
    wide = gaps.gaps(duck, watermark="2 hours")
    assert wide.notes[-1].startswith("watermark delay 2 hours is wide enough")


def test_duplicates_view_numbers_copies_and_names_causes(duck: Engine) -> None:
    result = duck.run("SELECT * FROM duplicates ORDER BY key, event_id, copy_number")
    columns = ["key", "event_id", "copy_number", "copies", "offset", "gap_ms", "likely_cause"]
    assert pick(result, columns) == [
        ("k1", "e1", 1, 3, 0, 0, FIRST),
        ("k1", "e1", 2, 3, 1, 2000, RETRY),
        ("k1", "e1", 3, 3, 5, 300_000, RESEND),
        ("k2", "e3", 1, 2, 3, 0, FIRST),
        ("k2", "e3", 2, 2, 4, 5_280_000, RETRY),  # both copies without producer_id
    ]
    assert (
        pick(result, ["differs_from_first"]) == [(None,), (None,), ("producer_id",)] + [(None,)] * 2
    )


def test_trace_of_a_key(duck: Engine) -> None:
    report = trace.trace(duck, key="k2")
    columns = ["offset", "event_id", "copy_number", "likely_cause", "kept_in_events"]
    assert pick(section(report, "deliveries"), columns) == [
        (2, "e2", 1, FIRST, True),
        (3, "e3", 1, FIRST, True),
        (4, "e3", 2, RETRY, False),
    ]
    assert pick(section(report, "events"), ["event_id", "offset"]) == [("e2", 2), ("e3", 3)]
    state_columns = ["from_version", "until_version", "operation", "event_id", "updated_at"]
    assert pick(section(report, "entity_state"), state_columns) == [
        (0, 0, "WRITE", "e2", ts(12, 0)),
        (1, 2, "WRITE", "e3", ts(13, 0)),
    ]
    assert section(report, "findings").rows() == []
    assert section(report, "quarantine").rows() == []
    assert report.notes == ["no reconciliation has run on this warehouse yet: no findings to show"]


def test_trace_finds_malformed_records_by_their_raw_key(duck: Engine) -> None:
    report = trace.trace(duck, key="k3")
    columns = ["offset", "key", "copy_number", "parse_error", "kept_in_events"]
    assert pick(section(report, "deliveries"), columns) == [(6, None, None, "invalid_json", False)]
    assert pick(section(report, "quarantine"), ["offset", "reason"]) == [(6, "invalid_json")]
    assert section(report, "entity_state").rows() == []


def test_trace_of_an_event(duck: Engine) -> None:
    report = trace.trace(duck, event_id="e1")
    columns = ["offset", "copy_number", "gap_ms", "likely_cause", "producer_id", "kept_in_events"]
    assert pick(section(report, "deliveries"), columns) == [
        (0, 1, 0, FIRST, "p1", True),
        (1, 2, 2000, RETRY, "p1", False),
        (5, 3, 300_000, RESEND, "p2", False),
    ]
    assert pick(section(report, "entity_state"), ["key", "from_version", "until_version"]) == [
        ("k1", 0, 2)
    ]
    missing = trace.trace(duck, event_id="nope")
    assert missing.notes[0] == "no delivery carries event_id nope"
    with pytest.raises(trace.TraceError, match="exactly one of --event-id"):
        trace.trace(duck)


def test_as_of_a_version_reads_every_table_as_it_was(handmade: Config) -> None:
    with engines.open_engine(handmade, "duckdb", AsOf(version=0, table="entity_state")) as past:
        report = queries.summary(past)
        state = trace.trace(past, key="k2")
    assert section(report, "overall").rows() == [(3, 0, 3, 2, 1, 100 / 3, 1, 2)]
    assert section(report, "quarantine").rows() == []  # created in the second round
    assert report.notes[0].startswith("as of entity_state version 0 (")
    assert report.notes[0].endswith(
        "deliveries v0, events v0, entity_state v0; "
        "not created yet (empty): quarantine, ingest_batches"
    )
    assert pick(section(state, "entity_state"), ["event_id", "until_version"]) == [("e2", 0)]
    with pytest.raises(AsOfError, match="entity_state has no version 9; its versions are 0 to 2"):
        engines.open_engine(handmade, "duckdb", AsOf(version=9, table="entity_state"))


def test_spark_gives_the_same_answers(handmade: Config, spark: SparkSession) -> None:
    # the simulated warehouse compares every ready query; here the edges: null producers,
    # a malformed record's trace, and time travel by version
    def answers(now: Engine, then: Engine) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
        reports = [queries.summary(now), trace.trace(now, key="k3"), trace.trace(then, key="k2")]
        return [(s.name, s.result.columns, s.result.rows()) for r in reports for s in r.sections]

    as_of = AsOf(version=1, table="entity_state")
    with (
        engines.open_engine(handmade, "duckdb") as now,
        engines.open_engine(handmade, "duckdb", as_of) as then,
    ):
        expected = answers(now, then)
    with (
        engines.open_engine(handmade, "spark", spark=spark) as now,
        engines.open_engine(handmade, "spark", as_of, spark=spark) as then,
    ):
        assert answers(now, then) == expected


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_removed_copies_by_cause_set_apart_events_not_merged_yet(
    handmade: Config, spark: SparkSession, engine: str
) -> None:
    # deliveries v1 (round 2) was committed before events took round 2's first copies: e3's
    # two copies and e4 are not in events yet; k1's retry and resend are copies removed
    as_of = AsOf(version=1, table="deliveries")
    with engines.open_engine(handmade, engine, as_of, spark=spark) as opened:
        removed = queries.removed_by_cause(opened)
    assert removed == {RESEND: 1, queries.NOT_YET_MERGED: 3, RETRY: 1}


def test_query_errors_are_one_line_on_both_engines(handmade: Config, spark: SparkSession) -> None:
    with (
        engines.open_engine(handmade, "spark", spark=spark) as spark_engine,
        pytest.raises(QueryError) as spark_error,
    ):
        spark_engine.run("SELECT nope FROM events")
    with engines.open_engine(handmade, "duckdb") as duck, pytest.raises(QueryError) as duck_error:
        duck.run("SELECT nope FROM events")
    for caught in (spark_error, duck_error):
        assert "nope" in str(caught.value) and "\n" not in str(caught.value)
    assert str(spark_error.value).startswith("[UNRESOLVED_COLUMN")
    assert str(duck_error.value).startswith("Binder Error: Referenced column")


def test_an_empty_or_missing_warehouse_is_a_clear_error(
    base_config: Config, tmp_path: Path
) -> None:
    for where, message in (
        (tmp_path / "missing", "does not exist; pass --warehouse DIR"),
        (tmp_path, "no kafka-dedup tables under"),
    ):
        config = dataclasses.replace(
            base_config, storage=dataclasses.replace(base_config.storage, warehouse=str(where))
        )
        with pytest.raises(EngineError, match=message):
            engines.open_engine(config, "duckdb")
