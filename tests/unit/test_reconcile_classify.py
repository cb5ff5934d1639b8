"""Classification as pure DataFrame transformations, on a few inline events and effects."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from kafka_dedup import tables
from kafka_dedup.reconcile import classify, compare, sources
from kafka_dedup.reconcile.settings import Source, parse_source
from tests.reconcile_data import EFFECTS_SCHEMA, PAYMENTS, at, classify_rows, event_row

DAY_START, DAY_END = at(25, 0), at(26, 0)
LATE_AS_OF = at(27, 0)  # every grace period is over
FINDING_COLUMNS = ["finding_type", "event_id", "effect_ids", "field", "expected", "actual"]


def run_classify(
    spark: SparkSession,
    events: list[tuple[Any, ...]],
    effects: list[tuple[Any, ...]],
    source: Source | None = None,
    as_of: datetime = LATE_AS_OF,
    day: datetime = DAY_START,
    columns: list[str] = FINDING_COLUMNS,
) -> DataFrame:
    """Events and raw effect rows -> findings of the run of `day`, everything in view."""
    return classify_rows(spark, events, effects, source, as_of, day).select(*columns)


def finding(
    kind: str,
    event_id: str,
    ids: list[str],
    field: str | None = None,
    expected: str | None = None,
    actual: str | None = None,
) -> Row:
    return Row(
        finding_type=kind,
        event_id=event_id,
        effect_ids=ids,
        field=field,
        expected=expected,
        actual=actual,
    )


def test_each_class_from_planted_rows(spark: SparkSession) -> None:
    events = [
        event_row("k1", "ok", "order.paid", at(25, 10), 10.0),
        event_row("k2", "dup", "order.paid", at(25, 11), 20.0),
        event_row("k3", "missing", "order.paid", at(25, 12), 30.0),
        event_row("k4", "mismatch", "order.paid", at(25, 13), 40.0),
        event_row("k5", "created", "order.created", at(25, 14), 50.0),  # expects no effect
    ]
    effects = [
        ("c1", "ok", "k1", "10.0", "2026-11-25T10:01:00Z"),
        ("c2", "dup", "k2", "20", "2026-11-25T11:01:00Z"),
        ("c2b", "dup", "k2", "20.00", "2026-11-25T18:00:00Z"),
        ("c4", "mismatch", "k4", "41.5", "2026-11-25T13:01:00Z"),
        ("c9", "ghost", "k9", "1", "2026-11-25T09:00:00Z"),
    ]
    expected = [
        finding("DUPLICATE", "dup", ["c2", "c2b"]),
        finding("MISSING", "missing", []),
        finding("MISMATCH", "mismatch", ["c4"], "payload.amount", "40.0", "41.5"),
        finding("ORPHAN", "ghost", ["c9"]),
    ]
    assertDataFrameEqual(run_classify(spark, events, effects), expected)


def test_window_edges_and_grace(spark: SparkSession) -> None:
    events = [
        # just before midnight, its effect lands just after: neither MISSING nor ORPHAN
        event_row("k1", "late-evening", "order.paid", at(25, 23, 59, 30), 10.0),
        # the day before, charged just after midnight of the run date: not ORPHAN
        event_row("k2", "yesterday", "order.paid", at(24, 23, 59), 20.0),
        # no effect yet, but still inside the grace period at as_of: PENDING, not MISSING
        event_row("k3", "pending", "order.paid", at(25, 23, 50), 30.0),
        # tomorrow's event is not judged today
        event_row("k4", "tomorrow", "order.paid", at(26, 0, 5), 40.0),
    ]
    effects = [
        ("c1", "late-evening", "k1", "10", "2026-11-26T00:00:30Z"),
        ("c2", "yesterday", "k2", "20", "2026-11-25T00:01:00Z"),
    ]
    found_df = run_classify(spark, events, effects, as_of=at(26, 0, 30))
    assertDataFrameEqual(found_df, [finding("PENDING", "pending", [])])
    # once the grace period is over the same event is MISSING
    found_df = run_classify(spark, events, effects, as_of=at(26, 1, 0))
    assertDataFrameEqual(found_df, [finding("MISSING", "pending", [])])


def test_amount_tolerance_keys_and_wrong_types(spark: SparkSession) -> None:
    events = [
        event_row("k1", "within", "order.paid", at(25, 10), 10.0),
        event_row("k2", "beyond", "order.paid", at(25, 11), 20.0),
        event_row("k3", "text", "order.paid", at(25, 12), 30.0),
        event_row("k4", "no-amount", "order.paid", at(25, 13), None),
        event_row("k5", "other-key", "order.paid", at(25, 14), 50.0),
    ]
    effects = [
        ("c1", "within", "k1", "10.004", "2026-11-25T10:01:00Z"),  # inside the 0.005 tolerance
        ("c2", "beyond", "k2", "20.01", "2026-11-25T11:01:00Z"),
        ("c3", "text", "k3", "thirty", "2026-11-25T12:01:00Z"),  # a wrong type is a MISMATCH
        ("c4", "no-amount", "k4", "40", "2026-11-25T13:01:00Z"),  # null vs value
        ("c5", "other-key", "k6", "50", "2026-11-25T14:01:00Z"),  # another identity
    ]
    expected = [
        finding("MISMATCH", "beyond", ["c2"], "payload.amount", "20.0", "20.01"),
        finding("MISMATCH", "text", ["c3"], "payload.amount", "30.0", "thirty"),
        finding("MISMATCH", "no-amount", ["c4"], "payload.amount", None, "40"),
        finding("MISSING", "other-key", []),  # (k5, other-key) has no effect
        finding("ORPHAN", "other-key", ["c5"]),  # (k6, other-key) is not in the log
    ]
    assertDataFrameEqual(run_classify(spark, events, effects), expected)


def test_effects_per_event_and_sources_without_expectations(spark: SparkSession) -> None:
    events = [
        event_row("k1", "one-of-two", "order.paid", at(25, 10), 10.0),
        event_row("k2", "three-of-two", "order.paid", at(25, 11), 20.0),
    ]
    effects = [
        ("c1", "one-of-two", "k1", "10", "2026-11-25T10:01:00Z"),
        ("c2", "three-of-two", "k2", "20", "2026-11-25T11:01:00Z"),
        ("c3", "three-of-two", "k2", "20", "2026-11-25T11:02:00Z"),
        ("c4", "three-of-two", "k2", "20", "2026-11-25T11:03:00Z"),
    ]
    two = parse_source(0, {**PAYMENTS, "effects_per_event": 2})
    expected = [
        finding("MISSING", "one-of-two", ["c1"]),
        finding("DUPLICATE", "three-of-two", ["c2", "c3", "c4"]),
    ]
    assertDataFrameEqual(run_classify(spark, events, effects, two), expected)
    # no expected types: nothing is MISSING, more than one effect is still a DUPLICATE
    anything = parse_source(0, {**PAYMENTS, "expects_event_types": []})
    expected = [finding("DUPLICATE", "three-of-two", ["c2", "c3", "c4"])]
    assertDataFrameEqual(run_classify(spark, events, effects, anything), expected)


def test_duplicate_detail_names_the_extra_effects(spark: SparkSession) -> None:
    events = [event_row("k1", "dup", "order.paid", at(25, 10), 10.0)]
    effects = [
        ("c-b", "dup", "k1", "10", "2026-11-25T10:05:00Z"),
        ("c-a", "dup", "k1", "10", "2026-11-25T10:01:00Z"),
        ("c-c", "dup", "k1", "10", "2026-11-25T10:09:00Z"),
    ]
    source = parse_source(0, PAYMENTS)
    events_df = spark.createDataFrame(events, tables.EVENTS_SCHEMA)
    effects_df = sources.normalize_effects(spark.createDataFrame(effects, EFFECTS_SCHEMA), source)
    rule = classify.Rule(source, DAY_START, DAY_END, at(27, 0), timedelta(hours=1))
    row = classify.classify(classify.group_by_event(events_df, effects_df, source), rule).first()
    assert row is not None
    assert (row.effect_count, row.effect_ids) == (3, ["c-a", "c-b", "c-c"])  # by effect time
    assert row.detail == (
        "3 effects in payments for one event of 2026-11-25 (expected 1); "
        "extra on 2026-11-25: c-b, c-c"
    )


def test_malformed_effect_rows_are_flagged_not_dropped(spark: SparkSession) -> None:
    raw_df = spark.createDataFrame(
        [
            ("c1", "e1", "k1", "10", "2026-11-25T10:00:00Z"),
            ("c2", None, "k1", "10", "2026-11-25T10:00:00Z"),
            ("c3", "  ", "k1", "10", "2026-11-25T10:00:00Z"),
            ("c4", "e4", "k1", "10", "last tuesday"),
            ("c5", "e5", "k1", "10", None),
        ],
        EFFECTS_SCHEMA,
    )
    normalized_df = sources.normalize_effects(raw_df, parse_source(0, PAYMENTS))
    assertDataFrameEqual(
        normalized_df.select("effect_id", "event_id", "malformed"),
        [
            Row(effect_id="c1", event_id="e1", malformed=None),
            Row(effect_id="c2", event_id=None, malformed="missing_event_id"),
            Row(effect_id="c3", event_id=None, malformed="missing_event_id"),
            Row(effect_id="c4", event_id="e4", malformed="invalid_effect_time"),
            Row(effect_id="c5", event_id="e5", malformed="missing_effect_time"),
        ],
    )
    window_df = sources.filter_effects_window(normalized_df, DAY_START, DAY_END)
    assert [r.effect_id for r in window_df.collect()] == ["c1"]


def test_undated_sources_without_ids_get_stable_content_ids(spark: SparkSession) -> None:
    source = parse_source(0, {"name": "mails", "format": "json", "path": "x"})
    raw_df = spark.createDataFrame(
        [("e1", "hello"), ("e1", "hello"), ("e2", "bye")], "event_id string, body string"
    )
    ids = [r.effect_id for r in sources.normalize_effects(raw_df, source).collect()]
    assert len(ids[0]) == 16 and ids[0] == ids[1] != ids[2]


def test_check_columns_names_the_missing_column(spark: SparkSession) -> None:
    raw_df = spark.createDataFrame([("e1", 1)], "event_id string, charged_at bigint")
    with pytest.raises(sources.SourceError, match="key_column = 'order_id' is not a column"):
        sources.check_columns(raw_df, parse_source(0, PAYMENTS))
    source = parse_source(
        0, {"name": "p", "format": "csv", "path": "/p", "effect_time_column": "charged_at"}
    )
    with pytest.raises(sources.SourceError, match="'charged_at' is bigint; expected a timestamp"):
        sources.check_columns(raw_df, source)


def test_values_differ(spark: SparkSession) -> None:
    pairs_df = spark.createDataFrame(
        [
            ("1.0", "1.004", False),
            ("1.0", "1.006", True),
            ("a", "a", False),
            ("a", "b", True),
            (None, None, False),
            (None, "x", True),
            ("2026-11-25 10:00:00", "2026-11-25T10:00:00Z", False),
        ],
        "e string, a string, want boolean",
    )
    differ = compare.values_differ(F.col("e"), F.col("a"), 0.005)
    rows = pairs_df.select(differ.alias("got"), "want").collect()
    assert [row.got for row in rows] == [row.want for row in rows]
