"""Fail fast: an unreachable broker or a missing topic is one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_dedup.cli import main
from kafka_dedup.kafka import broker


def ingest(tmp_path: Path, bootstrap: str, topics: str) -> int:
    return main(
        [
            "ingest",
            "--bootstrap-servers", bootstrap,
            "--topics", topics,
            "--warehouse", str(tmp_path / "warehouse"),
            "--checkpoints", str(tmp_path / "checkpoints"),
        ]
    )  # fmt: skip


def test_unreachable_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = f"127.0.0.1:{broker.free_port()}"
    assert ingest(tmp_path, closed, "orders") == 2
    assert capsys.readouterr().err == (
        f"kafka-dedup ingest: error: Kafka at {closed} is unreachable: start it "
        "(`kafka-dedup broker start`) or fix --bootstrap-servers\n"
    )
    assert not (tmp_path / "warehouse").exists()


def test_missing_topic(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ingest(tmp_path, kafka_bootstrap, "no-such-topic") == 2
    assert capsys.readouterr().err == (
        f"kafka-dedup ingest: error: topic(s) no-such-topic not found on {kafka_bootstrap}: "
        "create them or fix --topics\n"
    )
    assert not (tmp_path / "warehouse").exists()


def test_bad_trigger_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", "--trigger", "sometimes", "--warehouse", str(tmp_path / "w")])
    assert code == 2
    assert capsys.readouterr().err == (
        "kafka-dedup ingest: error: ingest.trigger = 'sometimes': expected 'available-now' or "
        "an interval like '10 seconds'\n"
    )
