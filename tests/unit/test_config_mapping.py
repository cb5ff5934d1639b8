"""[[ingest.mappings]]: the default is the envelope, sources are checked, errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_dedup import config as config_mod
from kafka_dedup.config import ConfigError
from kafka_dedup.kafka import legacy

TOML = """
[[ingest.mappings]]
topic_pattern = "clicks-.*"
key = ["header:user", "kafka"]
event_id = "hash($.user, $['page id'], $.items[0])"
event_time = ["$.ts", "kafka"]
event_time_format = "EPOCH_SECONDS"
sequence = ""
"""


def test_no_mapping_by_default_and_a_table_with_its_defaults(tmp_path: Path) -> None:
    assert config_mod.load(environ={}).ingest.mappings == ()
    path = tmp_path / "c.toml"
    path.write_text(TOML)
    (mapping,) = config_mod.load(path, environ={}).ingest.mappings
    assert (mapping.topic, mapping.topic_pattern, mapping.name) == ("", "clicks-.*", "clicks-.*")
    assert mapping.key == ("header:user", "kafka")
    assert mapping.event_id == ("hash($.user, $['page id'], $.items[0])",)
    assert (mapping.event_time, mapping.event_time_format) == (("$.ts", "kafka"), "epoch_seconds")
    assert mapping.sequence == ()
    # what the table leaves out is the envelope's
    assert (mapping.event_type, mapping.producer_id, mapping.payload) == (
        ("$.event_type",),
        ("$.producer_id",),
        ("$.payload",),
    )


def test_the_simulators_second_shape_has_a_valid_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(legacy.mapping_toml("returns"))
    (mapping,) = config_mod.load(path, environ={}).ingest.mappings
    assert (mapping.topic, mapping.key, mapping.event_id) == (
        "returns",
        ("header:return_id",),
        ("$.meta.id",),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('topic = "a"\ntopic_pattern = "b"', "ingest.mappings[0]: set exactly one of topic or "
         "topic_pattern"),
        ('event_id = "$.id"', "ingest.mappings[0]: set exactly one of topic or topic_pattern"),
        ('topic = "a"\nid = "$.id"', "ingest.mappings[0]: unknown key 'id'; known keys: "
         "event_id, event_time, event_time_format, event_type, format, key, payload, "
         "producer_id, sequence, topic, topic_pattern"),
        ('topic = "a"\nevent_id = "meta.id"', "ingest.mappings[0].event_id = 'meta.id': "
         'expected "header:NAME", "$.field.path", "hash($.a, $.b)" or a list of them'),
        ('topic = "a"\nkey = "hash($.a)"', "ingest.mappings[0].key = 'hash($.a)': hash(...) "
         "is for event_id only"),
        ('topic = "a"\nevent_id = "hash()"', "ingest.mappings[0].event_id = 'hash()': expected "
         "hash($.field, ...) of field paths"),
        ('topic = "a"\nevent_id = []', "ingest.mappings[0].event_id = []: required: where the "
         "value comes from"),
        ('topic = "a"\nevent_time = ["kafka", "$.ts"]', "ingest.mappings[0].event_time = "
         "['kafka', '$.ts']: \"kafka\" (the Kafka timestamp) always has a value: list it last "
         "or alone"),
        ('topic = "a"\nevent_time_format = "unix"', "ingest.mappings[0].event_time_format = "
         "'unix': expected one of iso8601, epoch_seconds, epoch_millis"),
        ('topic = "a"\nformat = "protobuf"', "ingest.mappings[0].format = 'protobuf': expected "
         "one of json, avro"),
        ('topic_pattern = "a("', "ingest.mappings[0].topic_pattern = 'a(': not a regular "
         "expression (missing ), unterminated subpattern at position 1)"),
        ("topic = 3", "ingest.mappings[0].topic = 3: expected a string"),
    ],
)  # fmt: skip
def test_a_bad_mapping_fails_fast_in_one_line(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[[ingest.mappings]]\n{table}\n")
    with pytest.raises(ConfigError) as raised:
        config_mod.load(path, environ={})
    assert str(raised.value) == message


def test_mappings_cannot_come_from_the_environment() -> None:
    with pytest.raises(ConfigError) as raised:
        config_mod.load(environ={"KAFKA_DEDUP_INGEST__MAPPINGS": "x"})
    assert str(raised.value) == (
        "ingest.mappings = 'x': expected [[ingest.mappings]] tables in a config file"
    )


def test_an_avro_mapping_and_its_registry_url() -> None:
    config = config_mod.load(
        environ={"KAFKA_DEDUP_KAFKA__SCHEMA_REGISTRY_URL": "https://u:p@sr.example:8081/api"},
        flags={"ingest": {"mappings": [{"topic": "a", "format": "AVRO"}]}},
    )
    assert config.ingest.mappings[0].format == "avro"
    assert config.kafka.schema_registry_url == "https://u:p@sr.example:8081/api"


def test_a_registry_url_that_is_not_http_fails_fast() -> None:
    with pytest.raises(ConfigError) as raised:
        config_mod.load(environ={"KAFKA_DEDUP_KAFKA__SCHEMA_REGISTRY_URL": "sr:8081"})
    assert str(raised.value) == (
        "kafka.schema_registry_url = 'sr:8081': expected an http(s) URL such as "
        "http://127.0.0.1:8081 (or empty for none)"
    )
