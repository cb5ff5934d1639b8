"""The local schema registry: Confluent's own Avro serde against it, two schema versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from kafka_dedup import processes
from kafka_dedup.kafka import registry

pytestmark = pytest.mark.integration

TOPIC = "registry-orders"
SUBJECT = f"{TOPIC}-value"
START_TIMEOUT_S = 120


def _event_schema(*extra_fields: dict[str, object]) -> str:
    fields = [{"name": "event_id", "type": "string"}, {"name": "amount", "type": "long"}]
    return json.dumps(
        {
            "type": "record",
            "name": "Order",
            "namespace": "kd.test",
            "fields": fields + list(extra_fields),
        }
    )


V1 = _event_schema()
# The evolution a producer may make under BACKWARD: a new field with a default.
V2 = _event_schema({"name": "currency", "type": "string", "default": "EUR"})
# Not BACKWARD-compatible: a v2 reader cannot fill "region" in a v1 record.
V2_NO_DEFAULT = _event_schema({"name": "region", "type": "string"})


def _schema_id(payload: bytes) -> int:
    """The id in Confluent's wire format: magic byte 0, then a 4-byte big-endian schema id."""
    assert payload[0] == 0
    return int.from_bytes(payload[1:5], "big")


def test_two_schema_versions_round_trip(registry_url: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    ctx = SerializationContext(TOPIC, MessageField.VALUE)

    v1_bytes = AvroSerializer(client, V1)({"event_id": "e-1", "amount": 10}, ctx)
    v2_record = {"event_id": "e-2", "amount": -3, "currency": "USD"}
    v2_bytes = AvroSerializer(client, V2)(v2_record, ctx)

    v1_id, v2_id = _schema_id(v1_bytes), _schema_id(v2_bytes)
    assert v1_id != v2_id
    assert client.get_versions(SUBJECT) == [1, 2]
    assert client.get_version(SUBJECT, 1).schema_id == v1_id
    assert client.get_version(SUBJECT, 2).schema_id == v2_id
    assert json.loads(client.get_schema(v2_id).schema_str) == json.loads(V2)

    # Each record read with the schema it was written with ...
    writer_deserializer = AvroDeserializer(client)
    assert writer_deserializer(v1_bytes, ctx) == {"event_id": "e-1", "amount": 10}
    assert writer_deserializer(v2_bytes, ctx) == {
        "event_id": "e-2",
        "amount": -3,
        "currency": "USD",
    }
    # ... and the old record through the new reader schema: the default fills the new field.
    v2_reader = AvroDeserializer(client, V2)
    assert v2_reader(v1_bytes, ctx) == {"event_id": "e-1", "amount": 10, "currency": "EUR"}

    # The same schema again is no new version.
    again = AvroSerializer(client, V1)({"event_id": "e-3", "amount": 0}, ctx)
    assert _schema_id(again) == v1_id
    assert client.get_versions(SUBJECT) == [1, 2]


def test_backward_compatibility_rejects_a_new_field_without_default(registry_url: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    subject = "registry-payments-value"
    client.register_schema(subject, Schema(V1, "AVRO"))
    client.set_compatibility(subject, "BACKWARD")

    assert client.test_compatibility(subject, Schema(V2, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(V2_NO_DEFAULT, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as rejected:
        client.register_schema(subject, Schema(V2_NO_DEFAULT, "AVRO"))
    assert rejected.value.http_status_code == 409
    assert client.get_versions(subject) == [1]


def test_stop_ends_the_registry_and_forgets_its_pid(tmp_path: Path) -> None:
    port = registry.free_port()
    started = registry.start(port, tmp_path, timeout_s=START_TIMEOUT_S)
    assert started.pid is not None
    assert registry.status(port, tmp_path).running is True

    assert registry.stop(tmp_path) is True

    assert processes.pid_alive(started.pid) is False
    assert not (tmp_path / registry.PID_FILE).exists()
    assert registry.status(port, tmp_path) == registry.RegistryStatus(
        False, None, registry.url(port), tmp_path.resolve()
    )
    assert registry.stop(tmp_path) is False
