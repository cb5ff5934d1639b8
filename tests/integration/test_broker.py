"""The embedded broker: real KRaft process, idempotent produce, consume back, clear errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_dedup.kafka import broker
from kafka_dedup.kafka.broker import BrokerError


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


def test_produce_idempotently_and_consume_back(kafka_bootstrap: str) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic)
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    try:
        for _ in range(60):
            for message in consumer.consume(num_messages=50, timeout=1.0):
                assert message.error() is None
                received[message.key()] = message.value()
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert received == sent


def test_status_reports_running_broker(kafka_bootstrap: str) -> None:
    assert broker.metadata_ok(kafka_bootstrap)


def test_start_on_taken_port_fails_with_clear_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    taken = int(kafka_bootstrap.rsplit(":", 1)[1])
    with pytest.raises(BrokerError) as raised:
        broker.start(taken, tmp_path / "other")
    assert str(raised.value) == (
        f"port {taken} on 127.0.0.1 is already in use: stop what holds it or pass another --port"
    )
    assert not (tmp_path / "other" / "broker.pid").exists()


def test_missing_java_fails_with_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrokerError, match=r"^java not found: install a Java 17 runtime"):
        broker.start(broker.free_port(), tmp_path / "data")


def test_stop_and_restart_keeps_topics(tmp_path: Path) -> None:
    data_dir = tmp_path / "restart"
    port = broker.free_port()
    first = broker.start(port, data_dir)
    try:
        create_topic(first.bootstrap_servers, "kept", partitions=2)
    finally:
        assert broker.stop(data_dir) is True
    assert broker.status(port, data_dir).running is False
    second = broker.start(port, data_dir)
    try:
        topics = AdminClient({"bootstrap.servers": second.bootstrap_servers}).list_topics(
            timeout=10
        )
        assert len(topics.topics["kept"].partitions) == 2
    finally:
        broker.stop(data_dir)
    assert broker.stop(data_dir) is False
