"""Avro topics in the Confluent wire format: records written by confluent-kafka's
AvroSerializer against a real schema registry, in two schema versions on one topic, are read
with their writer's schema and mapped like JSON; an unknown schema id, a body that does not
decode and a value outside the wire format are quarantined while the stream goes on."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pyspark.sql import SparkSession

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest.job import IngestError, run_ingest
from kafka_dedup.kafka import publish
from kafka_dedup.kafka.producer import EventProducer
from tests.integration.ingest_helpers import envelope, ingest_config, read

pytestmark = pytest.mark.integration

AVRO_TOPIC, ENVELOPE_TOPIC = "avro-orders", "avro-orders-envelope"
MAPPING = """
[[ingest.mappings]]
topic = "avro-orders"
format = "avro"
key = "$.order_id"
event_id = "$.meta.id"
event_time = "$.ts"
event_time_format = "epoch_millis"
sequence = "$.version"
event_type = "$.type"
producer_id = []
payload = "$.data"
"""
TEN = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
TEN_MS = int(TEN.timestamp() * 1000)


def _schema(ts_type: Any, *extra: dict[str, Any]) -> str:
    data_fields = [{"name": "amount", "type": "double"}, *extra]
    return json.dumps(
        {
            "type": "record",
            "name": "Order",
            "namespace": "kd.avro",
            "fields": [
                {"name": "order_id", "type": "string"},
                {
                    "name": "meta",
                    "type": {
                        "type": "record",
                        "name": "Meta",
                        "fields": [{"name": "id", "type": ["null", "string"], "default": None}],
                    },
                },
                {"name": "ts", "type": ts_type},
                {"name": "version", "type": "long"},
                {"name": "type", "type": "string"},
                {
                    "name": "data",
                    "type": {"type": "record", "name": "Data", "fields": data_fields},
                },
            ],
        }
    )


# v1: the time a plain long of epoch milliseconds; v2 (BACKWARD-compatible) adds a currency
# with a default and marks the same long as timestamp-millis, which Spark decodes as a timestamp.
V1 = _schema("long")
V2 = _schema(
    {"type": "long", "logicalType": "timestamp-millis"},
    {"name": "currency", "type": "string", "default": "EUR"},
)


RECURSIVE = json.dumps(
    {
        "type": "record",
        "name": "Node",
        "namespace": "kd.avro",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "next", "type": ["null", "Node"], "default": None},
        ],
    }
)


def _order(order_id: str, event_id: str | None, version: int, **data: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "meta": {"id": event_id},
        "ts": TEN_MS + version * 1000,
        "version": version,
        "type": "order.updated",
        "data": {"amount": 1.5 * version, **data},
    }


def _produce(bootstrap: str, registry_url: str) -> tuple[int, int]:
    """The Avro topic's records (see the test for what each is); returns (v1 id, v2 id)."""
    client = SchemaRegistryClient({"url": registry_url})
    ctx = SerializationContext(AVRO_TOPIC, MessageField.VALUE)
    v1, v2 = AvroSerializer(client, V1), AvroSerializer(client, V2)
    v2_ts = dict(_order("o1", "e2", 2, currency="USD"))
    v2_ts["ts"] = datetime.fromtimestamp(v2_ts["ts"] / 1000, timezone.utc)  # timestamp-millis
    o2 = dict(_order("o2", "e3", 1, currency="EUR"))
    o2["ts"] = datetime.fromtimestamp(o2["ts"] / 1000, timezone.utc)
    records = [
        v1(_order("o1", "e1", 1), ctx),  # 0
        v1(_order("o1", "e1", 1), ctx),  # 1: the same event resent
        v2(v2_ts, ctx),  # 2: a newer version of o1, in schema v2
        v2(o2, ctx),  # 3
        v1(_order("o3", None, 1), ctx),  # 4: decodes, but has no event id
    ]
    v1_id = int.from_bytes(records[0][1:5], "big")
    v2_id = int.from_bytes(records[2][1:5], "big")
    records += [
        b"\x00" + (999_999).to_bytes(4, "big") + records[0][5:],  # 5: an id the registry lacks
        records[2][:5] + b"\x02",  # 6: v2's id, a body cut short
        b'{"order_id": "o4"}',  # 7: JSON on the Avro topic, not the wire format
        # 8: a valid record of a schema Spark cannot convert (a recursive type)
        AvroSerializer(client, RECURSIVE)({"id": "n1", "next": None}, ctx),
    ]
    producer = EventProducer(bootstrap, producer_id="test")
    for value in records:
        producer.send_raw(AVRO_TOPIC, b"ignored", value, TEN_MS)
    producer.send_raw(ENVELOPE_TOPIC, b"k1", envelope("env-1", "2026-11-25T10:00:00Z"))
    producer.flush()
    return v1_id, v2_id


def _config(base: Config, root: Path, bootstrap: str, registry_url: str) -> Config:
    config = ingest_config(base, root, bootstrap, AVRO_TOPIC)
    kafka = dataclasses.replace(
        config.kafka, topics=(AVRO_TOPIC, ENVELOPE_TOPIC), schema_registry_url=registry_url
    )
    config = dataclasses.replace(config, kafka=kafka)
    return config_mod.apply(config, config_mod.tomllib.loads(MAPPING), "the test")


def test_avro_records_of_two_schema_versions_are_mapped_and_bad_ones_quarantined(
    spark: SparkSession,
    kafka_bootstrap: str,
    registry_url: str,
    base_config: Config,
    tmp_path: Path,
) -> None:
    for topic in (AVRO_TOPIC, ENVELOPE_TOPIC):
        publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    v1_id, v2_id = _produce(kafka_bootstrap, registry_url)
    assert v1_id != v2_id
    config = _config(base_config, tmp_path, kafka_bootstrap, registry_url)

    result = run_ingest(spark, config)

    events = {
        (r.topic, r.key, r.event_id): (r.event_time, r.sequence, r.event_type, r.payload)
        for r in read(spark, config, tables.EVENTS)
    }
    at = [datetime(2026, 11, 25, 10, 0, s) for s in (1, 2)]
    assert events == {
        (AVRO_TOPIC, "o1", "e1"): (at[0], 1, "order.updated", '{"amount":1.5}'),
        (AVRO_TOPIC, "o1", "e2"): (at[1], 2, "order.updated", '{"amount":3.0,"currency":"USD"}'),
        (AVRO_TOPIC, "o2", "e3"): (at[0], 1, "order.updated", '{"amount":1.5,"currency":"EUR"}'),
        (ENVELOPE_TOPIC, "k1", "env-1"): (
            datetime(2026, 11, 25, 10, 0),
            1,
            "order.paid",
            '{"amount":1.0}',
        ),
    }
    state = {r.key: (r.event_id, r.sequence) for r in read(spark, config, tables.ENTITY_STATE)}
    assert state == {"o1": ("e2", 2), "o2": ("e3", 1), "k1": ("env-1", 1)}
    quarantined = {
        (r.topic, r.offset): (r.reason, r.detail) for r in read(spark, config, tables.QUARANTINE)
    }
    recursive_reason, recursive_detail = quarantined.pop((AVRO_TOPIC, 8))
    assert recursive_reason == "invalid_avro"
    assert recursive_detail.startswith("schema id ")
    assert ": Spark cannot read it as Avro (" in recursive_detail
    assert "recursive" in recursive_detail.lower()
    assert quarantined == {
        (AVRO_TOPIC, 4): ("missing_event_id", "event_id: $.meta.id has no value"),
        (AVRO_TOPIC, 5): ("unknown_schema_id", "schema id 999999 is not in the registry"),
        (AVRO_TOPIC, 6): ("invalid_avro", f"the body does not decode with schema id {v2_id}"),
        (AVRO_TOPIC, 7): (
            "invalid_avro",
            "value is not in the Confluent wire format (magic byte 0, 4-byte schema id)",
        ),
    }
    assert result.totals.records_read == 10
    delivered = sorted((r.topic, r.offset) for r in read(spark, config, tables.DELIVERIES))
    assert delivered == [(AVRO_TOPIC, n) for n in range(9)] + [(ENVELOPE_TOPIC, 0)]


def test_an_avro_mapping_without_a_reachable_registry_fails_before_reading(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    publish.ensure_topic(kafka_bootstrap, AVRO_TOPIC, partitions=1)
    no_url = _config(base_config, tmp_path / "a", kafka_bootstrap, "")
    with pytest.raises(IngestError, match="set kafka.schema_registry_url"):
        run_ingest(spark, no_url)

    closed = _config(base_config, tmp_path / "b", kafka_bootstrap, "http://127.0.0.1:9")
    with pytest.raises(IngestError) as failed:
        run_ingest(spark, closed)
    assert str(failed.value).startswith("schema registry at http://127.0.0.1:9 did not answer")
    assert str(failed.value).endswith("start it, or fix kafka.schema_registry_url")
    assert not (tmp_path / "b" / "warehouse").exists()
