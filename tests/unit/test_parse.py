"""parse_deliveries: every reason code, key fallback, and the fields of a valid envelope."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from kafka_dedup import config as config_mod
from kafka_dedup import domain
from kafka_dedup.ingest import parse

KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("timestampType", T.IntegerType()),
        T.StructField(
            "headers",
            T.ArrayType(
                T.StructType(
                    [T.StructField("key", T.StringType()), T.StructField("value", T.BinaryType())]
                )
            ),
        ),
    ]
)
TS = dt.datetime(2026, 11, 25, 10, 0)
VALID = (
    b'{"event_id":"e1","event_type":"order.paid","event_time":"2026-11-25T10:00:00Z",'
    b'"sequence":3,"producer_id":"checkout-1","payload":{"amount":42.5}}'
)


def kafka_rows(spark: SparkSession, rows: list[tuple[bytes | None, bytes | None]]) -> DataFrame:
    return spark.createDataFrame(
        [(k, v, "orders", 0, i, TS, 0, None) for i, (k, v) in enumerate(rows)], KAFKA_SCHEMA
    )


def parsed(spark: SparkSession, key: bytes | None, value: bytes | None) -> T.Row:
    row = kafka_rows(spark, [(key, value)]).transform(parse.parse_deliveries).first()
    assert row is not None
    return row


def test_valid_envelope_is_parsed_into_columns(spark: SparkSession) -> None:
    row = parsed(spark, b"order-1", VALID)
    assert row.parse_error is None
    assert (row.key, row.event_id, row.event_type) == ("order-1", "e1", "order.paid")
    assert row.event_time == dt.datetime(2026, 11, 25, 10, 0)
    assert (row.sequence, row.producer_id, row.payload) == (3, "checkout-1", '{"amount":42.5}')
    assert (row.topic, row.partition, row.offset, row.raw_key) == ("orders", 0, 0, b"order-1")


def test_envelope_key_is_the_fallback_and_optional_fields_may_be_missing(
    spark: SparkSession,
) -> None:
    value = b'{"key":"order-9","event_id":"e2","event_time":"2026-11-25T10:00:00.5+01:00"}'
    row = parsed(spark, None, value)
    assert row.parse_error is None
    assert (row.key, row.sequence, row.producer_id, row.payload) == ("order-9", None, None, None)
    assert row.event_time == dt.datetime(2026, 11, 25, 9, 0, 0, 500000)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"k", None, domain.EMPTY_VALUE),
        (b"k", b"", domain.EMPTY_VALUE),
        (b"k", b'{"event_id": "e", "event_time": "2026-11-25T10:00:00Z", "x": "caf\xe9"}',
         domain.INVALID_UTF8),
        (b"\xff\xfe", VALID, domain.INVALID_UTF8),
        (b"k", b"not json", domain.INVALID_JSON),
        (b"k", b"[1, 2]", domain.INVALID_JSON),
        (b"k", b'{"event_id": "e1", "event_time": ', domain.INVALID_JSON),
        (b"k", b'{"event_time": "2026-11-25T10:00:00Z"}', domain.MISSING_EVENT_ID),
        (b"k", b'{"event_id": "  ", "event_time": "2026-11-25T10:00:00Z"}',
         domain.MISSING_EVENT_ID),
        (b"k", b'{"event_id": "e"}', domain.MISSING_EVENT_TIME),
        (b"k", b'{"event_id": "e", "event_time": "yesterday"}', domain.INVALID_EVENT_TIME),
        (b"k", b'{"event_id": "e", "event_time": "2026-13-45T10:00"}', domain.INVALID_EVENT_TIME),
        (b"k", b'{"event_id": "e", "event_time": "2099-01-01T00:00:00Z"}',
         domain.FUTURE_EVENT_TIME),
        (b"k", b'{"event_id": "e", "event_time": "2026-11-25T10:00:00Z", "sequence": "x"}',
         domain.INVALID_SEQUENCE),
        (None, b'{"event_id": "e", "event_time": "2026-11-25T10:00:00Z"}', domain.MISSING_KEY),
        (b"", b'{"event_id": "e", "event_time": "2026-11-25T10:00:00Z"}', domain.MISSING_KEY),
    ],
)  # fmt: skip
def test_malformed_records_get_their_reason(
    spark: SparkSession, key: bytes | None, value: bytes | None, reason: str
) -> None:
    row = parsed(spark, key, value)
    assert row.parse_error == reason
    assert row.parse_error_detail is not None
    assert row.event_time is None


def test_quarantine_rows_are_the_malformed_ones(spark: SparkSession) -> None:
    deliveries_df = (
        kafka_rows(spark, [(b"k", VALID), (b"k", b"oops"), (None, None)])
        .transform(parse.parse_deliveries)
        .transform(parse.with_ingest_columns, batch_id=7, query_id="q-1")
    )
    rows = sorted(deliveries_df.transform(parse.to_quarantine).collect(), key=lambda r: r.offset)
    assert [(r.offset, r.reason) for r in rows] == [(1, "invalid_json"), (2, "empty_value")]
    stamps = {(r.ingest_batch_id, r.ingest_query_id) for r in deliveries_df.collect()}
    assert stamps == {(7, "q-1")}


MAPPED = """
[[ingest.mappings]]
topic_pattern = "pay.*"
key = ["kafka", "$['account id']"]
event_id = "header:message_id"
event_time = ["$.created", "kafka"]
event_time_format = "epoch_seconds"
sequence = "header:version"
event_type = []
producer_id = []
payload = "$"
"""


def test_a_mapping_reads_its_topics_and_leaves_the_others_to_the_envelope(
    spark: SparkSession,
) -> None:
    (mapping,) = config_mod.apply(
        config_mod.DEFAULTS, config_mod.tomllib.loads(MAPPED), "the test"
    ).ingest.mappings
    headers = [("message_id", b"m-1"), ("version", b"1"), ("version", b"4")]  # last one wins
    rows = [
        # epoch seconds with a fraction; the key from a field, the Kafka key being empty
        (None, b'{"account id": "a-9", "created": 1795600800.25, "x": {"b": 1, "a": 2}}',
         "payments", headers),
        # no time field: the Kafka timestamp; the Kafka key first
        (b"k-1", b'{"account id": "a-9"}', "payments", headers),
        (b"k-1", b'{"created": "Tuesday"}', "payments", headers),
        (b"k-1", b'{"created": 1}', "payments", None),  # no message_id header
        (b"order-1", VALID, "orders", None),  # no mapping: the envelope
    ]  # fmt: skip
    kafka_df = spark.createDataFrame(
        [(k, v, t, 0, i, TS, 0, h) for i, (k, v, t, h) in enumerate(rows)], KAFKA_SCHEMA
    )
    parsed_rows = kafka_df.transform(parse.parse_deliveries, mappings=(mapping,)).collect()
    got = [
        (r.key, r.event_id, r.event_time, r.sequence, r.payload, r.parse_error,
         r.parse_error_detail)
        for r in sorted(parsed_rows, key=lambda r: r.offset)
    ]  # fmt: skip
    assert got == [
        ("a-9", "m-1", dt.datetime(2026, 11, 25, 10, 0, 0, 250000), 4,
         '{"account id":"a-9","created":1795600800.25,"x":{"a":2,"b":1}}', None, None),
        ("k-1", "m-1", TS, 4, '{"account id":"a-9"}', None, None),
        ("k-1", "m-1", None, None, '{"created":"Tuesday"}', domain.INVALID_EVENT_TIME,
         "event_time is not epoch seconds: Tuesday"),
        ("k-1", None, None, None, '{"created":1}', domain.MISSING_EVENT_ID,
         "event_id: header message_id has no value"),
        ("order-1", "e1", dt.datetime(2026, 11, 25, 10, 0), 3, '{"amount":42.5}', None, None),
    ]  # fmt: skip
