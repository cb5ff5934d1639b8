"""Config precedence (defaults < file < env < flags) and one-line errors for bad values."""

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from kafka_dedup import config as config_mod
from kafka_dedup.cli import main
from kafka_dedup.config import Config, ConfigError, duration_seconds, parse_duration
from kafka_dedup.reconcile import settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kafka-dedup.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_env_or_flags() -> None:
    config = config_mod.load(environ={})
    assert config.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert config.ingest.trigger == "available-now"
    assert config.ingest.watermark == "1 hour"
    assert config.spark.master == "local[*]"
    assert config.kafka.fail_on_data_loss is True


def test_file_then_env_then_flag_win_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[kafka]\nbootstrap_servers = "file:1"\ntopics = ["a", "b"]\n'
        '[ingest]\nwatermark = "2 hours"\ntrigger = "30 seconds"\n',
    )
    env = {
        "KAFKA_DEDUP_KAFKA__BOOTSTRAP_SERVERS": "env:2",
        "KAFKA_DEDUP_INGEST__WATERMARK": "3 hours",
    }
    flags = {"kafka": {"bootstrap_servers": "flag:3"}}

    from_file = config_mod.load(path, environ={})
    from_env = config_mod.load(path, environ=env)
    from_flag = config_mod.load(path, environ=env, flags=flags)

    assert (from_file.kafka.bootstrap_servers, from_file.ingest.watermark) == ("file:1", "2 hours")
    assert (from_env.kafka.bootstrap_servers, from_env.ingest.watermark) == ("env:2", "3 hours")
    assert (from_flag.kafka.bootstrap_servers, from_flag.ingest.watermark) == ("flag:3", "3 hours")
    # untouched by env and flags: the file's values survive
    assert from_flag.kafka.topics == ("a", "b")
    assert from_flag.ingest.trigger == "30 seconds"


def test_env_values_are_coerced_to_field_types() -> None:
    env = {
        "KAFKA_DEDUP_KAFKA__MAX_OFFSETS_PER_TRIGGER": "500",
        "KAFKA_DEDUP_KAFKA__FAIL_ON_DATA_LOSS": "false",
        "KAFKA_DEDUP_KAFKA__TOPICS": "orders, payments",
        "KAFKA_DEDUP_CONFIG": "",  # empty means no file
    }
    config = config_mod.load(environ=env)
    assert config.kafka.max_offsets_per_trigger == 500
    assert config.kafka.fail_on_data_loss is False
    assert config.kafka.topics == ("orders", "payments")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KAFKA_DEDUP_INGEST__WATERMARK": "soon"},
            "ingest.watermark = 'soon': expected a delay like '1 hour' or '30 minutes'",
        ),
        (
            {"KAFKA_DEDUP_KAFKA__MAX_OFFSETS_PER_TRIGGER": "many"},
            "kafka.max_offsets_per_trigger = 'many': expected a whole number",
        ),
        (
            {"KAFKA_DEDUP_KAFKA__FAIL_ON_DATA_LOSS": "perhaps"},
            "kafka.fail_on_data_loss = 'perhaps': expected true or false",
        ),
        (
            {"KAFKA_DEDUP_KAFKA__BOOTSTRAP_SERVERS": "localhost"},
            "kafka.bootstrap_servers = 'localhost': expected HOST:PORT[,HOST:PORT...] such as "
            "127.0.0.1:9092",
        ),
        (
            {"KAFKA_DEDUP_KAFKA__STARTING_OFFSETS": "yesterday"},
            "kafka.starting_offsets = 'yesterday': expected earliest, latest or a JSON object "
            'like {"orders":{"0":42}}',
        ),
    ],
)
def test_bad_value_names_key_and_expected_form(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_mod.load(environ=env)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_unknown_key_in_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka]\nbootstrap = 'x:1'\n")
    with pytest.raises(
        ConfigError, match=r"^unknown key kafka\.bootstrap in config file .*known keys: "
    ):
        config_mod.load(path, environ={})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; pass an existing file to --config"):
        config_mod.load(tmp_path / "nope.toml", environ={})
    bad = write(tmp_path, "[kafka\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config_mod.load(bad, environ={})


def test_cli_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_DEDUP_BROKER__PORT", "70000")
    code = main(["broker", "status", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "kafka-dedup broker: error: broker.port = 70000: expected 1-65535\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 hour", timedelta(hours=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("2 days", timedelta(days=2)),
        ("1 day", timedelta(days=1)),
        (" 30 seconds ", timedelta(seconds=30)),
        ("500 milliseconds", timedelta(milliseconds=500)),
    ],
)
def test_one_duration_grammar_for_ingest_reconcile_forensics_and_lock(
    text: str, expected: timedelta
) -> None:
    from kafka_dedup.forensics import gaps

    assert parse_duration(text) == expected
    assert config_mod.load(environ={"KAFKA_DEDUP_INGEST__WATERMARK": text}).ingest.watermark == text
    assert settings.parse({"grace": text}).grace == expected
    assert gaps.duration_ms(text) == expected.total_seconds() * 1000
    assert duration_seconds(text) == expected.total_seconds()


@pytest.mark.parametrize("text", ["1.5 hours", "1h", "hour", "1 week", "", "-1 hour", "1 hour 5"])
def test_a_form_outside_the_grammar_is_refused_everywhere(text: str) -> None:
    from kafka_dedup.forensics import gaps

    with pytest.raises(ConfigError, match="expected a delay like"):
        config_mod.load(environ={"KAFKA_DEDUP_INGEST__MAX_FUTURE_SKEW": text})
    with pytest.raises(ConfigError, match=r"^reconcile\.lookback = .*: expected a duration like"):
        settings.parse({"lookback": text})
    with pytest.raises(ConfigError, match="expected a duration like"):
        gaps.duration_ms(text)


def test_option_tables_keep_toml_scalars_as_text(tmp_path: Path) -> None:
    # Spark and Kafka options are text; TOML lets people write them as booleans and numbers
    path = write(
        tmp_path,
        '[spark.conf]\n"spark.ui.enabled" = false\n"spark.sql.shuffle.partitions" = 8\n'
        '[kafka.options]\n"kafka.fetch.max.wait.ms" = 500\n',
    )
    config = config_mod.load(path, environ={})
    assert config.spark.conf == {"spark.ui.enabled": "False", "spark.sql.shuffle.partitions": "8"}
    assert config.kafka.options == {"kafka.fetch.max.wait.ms": "500"}


def test_replace_validates_and_types_what_it_is_given() -> None:
    # callers build test and demo configs with dataclasses.replace: it must type values too
    config = dataclasses.replace(Config(), reconcile={"report_dir": "out", "lookback": "2 days"})
    assert (config.reconcile.report_dir, config.reconcile.lookback) == ("out", timedelta(days=2))
    assert dataclasses.replace(config.kafka, topics="a, b").topics == ("a", "b")
    with pytest.raises(ValidationError):
        dataclasses.replace(config.broker, port=0)


def test_reconcile_cannot_come_from_the_environment() -> None:
    with pytest.raises(ConfigError) as raised:
        config_mod.load(environ={"KAFKA_DEDUP_RECONCILE__LOOKBACK": "2 days"})
    assert str(raised.value) == (
        "environment variable KAFKA_DEDUP_RECONCILE__LOOKBACK: unknown section 'reconcile'; "
        "expected KAFKA_DEDUP_<SECTION>__<KEY> with SECTION one of SPARK, KAFKA, STORAGE, "
        "INGEST, BROKER, S3, AWS, MAINTAIN"
    )
