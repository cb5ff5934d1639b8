"""Topics as they are: [[ingest.mappings]] read identity from field paths, headers, a content
hash, epoch times and the Kafka timestamp, on the real broker, next to an envelope topic in the
same run; records a mapping cannot read are quarantined with a detail naming the field."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import publish
from kafka_dedup.kafka.producer import EventProducer
from tests.integration.ingest_helpers import envelope, ingest_config, read

LEGACY, CLICKS, ENVELOPE = "legacy-orders", "clicks-web", "orders-envelope"
MAPPINGS = """
[[ingest.mappings]]
topic = "legacy-orders"
key = "header:order_id"
event_id = "$.meta.id"
event_time = "$.meta.ts"
event_time_format = "epoch_millis"
sequence = "$.meta.version"
event_type = "$.type"
producer_id = "header:producer"
payload = "$.data"

[[ingest.mappings]]
topic_pattern = "clicks-.*"
key = "$.user"
event_id = "hash($.user, $.page, $.n)"
event_time = "kafka"
event_type = []
producer_id = []
payload = "$"
"""
TEN = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
TEN_MS = int(TEN.timestamp() * 1000)
CLICK_MS = TEN_MS + 61_000


def _legacy(meta: dict[str, Any], amount: float = 5.0) -> bytes:
    return json.dumps({"meta": meta, "type": "order.created", "data": {"amount": amount}}).encode()


def _click_hash(user: str, page: str, n: int) -> str:
    """The documented canonical form: the chosen fields in config order, compact JSON."""
    canonical = json.dumps({"$.user": user, "$.page": page, "$.n": n}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _produce(bootstrap: str) -> None:
    producer = EventProducer(bootstrap, producer_id="test")
    order = [("order_id", b"o1"), ("producer", b"checkout-7")]
    legacy = [
        (order, _legacy({"id": "m1", "ts": TEN_MS, "version": 1})),
        # the same event again, as an application resend would carry it
        (order, _legacy({"id": "m1", "ts": TEN_MS, "version": 1})),
        (order, _legacy({"ts": TEN_MS, "version": 2})),  # no id
        (order, _legacy({"id": "m3", "ts": "yesterday"})),
        ([("producer", b"checkout-7")], _legacy({"id": "m4", "ts": TEN_MS})),  # no key header
    ]
    for headers, value in legacy:
        producer.send_raw(LEGACY, b"ignored", value, TEN_MS, headers=headers)
    clicks = [
        b'{"user": "u1", "page": "/a", "n": 1, "sent_at": "10:01:01"}',
        # the same logical click resent: other metadata, other field order and spacing
        b'{"sent_at":"10:01:09","n":1,"page":"/a","user":"u1"}',
        b'{"user": "u1", "page": "/b", "n": 1}',
        b'{"user": "u2", "page": "/a"}',  # a hashed field is missing
        b"not json",
    ]
    for value in clicks:
        producer.send_raw(CLICKS, None, value, CLICK_MS)
    producer.send_raw(ENVELOPE, b"k1", envelope("env-1", "2026-11-25T10:00:00Z"))
    producer.flush()


def _config(base: Config, root: Path, bootstrap: str) -> Config:
    config = ingest_config(base, root, bootstrap, LEGACY)
    config = dataclasses.replace(
        config, kafka=dataclasses.replace(config.kafka, topics=(LEGACY, CLICKS, ENVELOPE))
    )
    return config_mod.apply(config, config_mod.tomllib.loads(MAPPINGS), "the test")


def test_each_mapping_kind_reads_identity_and_quarantines_what_it_cannot(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    for topic in (LEGACY, CLICKS, ENVELOPE):
        publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    _produce(kafka_bootstrap)
    config = _config(base_config, tmp_path, kafka_bootstrap)

    result = run_ingest(spark, config)

    events = {
        (r.topic, r.key, r.event_id): (
            r.event_time,
            r.sequence,
            r.event_type,
            r.producer_id,
            r.payload,
        )
        for r in read(spark, config, tables.EVENTS)
    }
    ten, click_time = datetime(2026, 11, 25, 10, 0), datetime(2026, 11, 25, 10, 1, 1)
    click_a = '{"n":1,"page":"/a","sent_at":"10:01:01","user":"u1"}'
    assert events == {
        (LEGACY, "o1", "m1"): (ten, 1, "order.created", "checkout-7", '{"amount":5}'),
        (CLICKS, "u1", _click_hash("u1", "/a", 1)): (click_time, None, None, None, click_a),
        (CLICKS, "u1", _click_hash("u1", "/b", 1)): (
            click_time,
            None,
            None,
            None,
            '{"n":1,"page":"/b","user":"u1"}',
        ),
        (ENVELOPE, "k1", "env-1"): (ten, 1, "order.paid", None, '{"amount":1.0}'),
    }
    quarantined = {
        (r.topic, r.offset): (r.reason, r.detail) for r in read(spark, config, tables.QUARANTINE)
    }
    assert quarantined == {
        (LEGACY, 2): ("missing_event_id", "event_id: $.meta.id has no value"),
        (LEGACY, 3): ("invalid_event_time", "event_time is not epoch milliseconds: yesterday"),
        (LEGACY, 4): ("missing_key", "key: header order_id has no value"),
        (CLICKS, 3): ("missing_event_id", "event_id: content hash field(s) missing: $.n"),
        (CLICKS, 4): ("invalid_json", "value is not a JSON object"),
    }
    assert result.totals.records_read == 11
    headers = {(r.topic, r.offset): r.headers for r in read(spark, config, tables.DELIVERIES)}
    assert [(h.key, bytes(h.value)) for h in headers[(LEGACY, 0)]] == [
        ("order_id", b"o1"),
        ("producer", b"checkout-7"),
    ]
