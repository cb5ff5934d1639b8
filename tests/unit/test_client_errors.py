"""A producer or consumer facing a dead broker says so once per kind of error, not once per
attempt (librdkafka's own log prints a line per connection attempt)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from kafka_dedup.downstream.consumer import IDEMPOTENT, Options, consume
from kafka_dedup.kafka import broker
from kafka_dedup.kafka.client_errors import ClientErrors
from kafka_dedup.kafka.producer import RETRYING, DeliveryError, Event, EventProducer

CLIENT_LOGGER = "kafka_dedup.kafka.client_errors"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, logger = Lines(), logging.getLogger(CLIENT_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_an_unreachable_broker_is_one_line_per_kind_of_error(
    lines: Lines, capfd: pytest.CaptureFixture[str]
) -> None:
    port = broker.free_port()  # nothing listens there
    producer = EventProducer(f"127.0.0.1:{port}", "probe", {"message.timeout.ms": 3000})
    producer.send("orders", Event("k-1", "order.paid", datetime.now(timezone.utc)))
    with pytest.raises(DeliveryError, match="1 records were refused by Kafka"):
        producer.flush(20)
    # librdkafka retried the connection many times in those 3 s; each kind is said once
    assert [level for level, _ in lines.lines] == ["WARNING", "WARNING"]
    refused, down = (message for _, message in lines.lines)
    assert refused.startswith(f"Kafka producer probe: 127.0.0.1:{port}/bootstrap: Connect to")
    assert "Connection refused" in refused
    # librdkafka's count of brokers is its own (seen once as 0/2 with one address)
    assert re.fullmatch(rf"Kafka producer probe: \d+/\d+ brokers are down \({RETRYING}\)", down)
    assert capfd.readouterr().err == ""  # and librdkafka printed nothing itself


def test_an_error_is_said_again_once_records_were_delivered_in_between(lines: Lines) -> None:
    errors = ClientErrors("Kafka producer probe", RETRYING)
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    errors(down)
    errors(down)
    errors.got_through("delivering")
    errors.got_through("delivering")
    errors(down)
    errors(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    assert lines.lines == [
        ("WARNING", "Kafka producer probe: 1/1 brokers are down (retrying; a record it cannot "
                    "deliver in time is reported when the run flushes)"),
        ("INFO", "Kafka producer probe: delivering again"),
        ("WARNING", "Kafka producer probe: 1/1 brokers are down (retrying; a record it cannot "
                    "deliver in time is reported when the run flushes)"),
        ("ERROR", "Kafka producer probe: fenced (fatal: it stops)"),
    ]  # fmt: skip


def test_a_consumer_facing_a_dead_broker_is_one_line_per_kind_of_error(
    lines: Lines, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = broker.free_port()  # nothing listens there
    options = Options(
        bootstrap_servers=f"127.0.0.1:{port}",
        topics=("payments",),
        group="charges",
        mode=IDEMPOTENT,
        database=str(tmp_path / "charges.db"),
        idle_timeout_s=3,
    )
    stats = consume(options)
    assert stats.received == 0
    # about 60 connection attempts in those 3 s; each kind of error is said once
    assert [level for level, _ in lines.lines] == ["WARNING", "WARNING"]
    refused, down = (message for _, message in lines.lines)
    assert refused.startswith(f"Kafka consumer charges-1: 127.0.0.1:{port}/bootstrap: Connect")
    assert "Connection refused" in refused and refused.endswith(" (retrying)")
    assert re.fullmatch(r"Kafka consumer charges-1: \d+/\d+ brokers are down \(retrying\)", down)
    assert capfd.readouterr().err == ""  # and librdkafka printed nothing itself


def test_a_fatal_error_a_consumer_raises_itself_is_not_logged_twice(lines: Lines) -> None:
    errors = ClientErrors("Kafka consumer charges-1", "retrying", fatal_raised=True)
    errors(KafkaError(KafkaError.FENCED_INSTANCE_ID, "fenced", fatal=True))
    assert lines.lines == []
