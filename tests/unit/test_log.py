"""log: plain lines by default, JSON lines on request, levels from -q/-v, stderr of the moment."""

from __future__ import annotations

import io
import json
import sys

import pytest

from kafka_dedup import cli, log


@pytest.fixture(autouse=True)
def _reset() -> None:
    yield
    log.setup()


def test_plain_lines_and_levels() -> None:
    out = io.StringIO()
    log.setup(log.QUIET, stream=out)
    log.get("t").info("progress")
    log.get("t").warning("careful")
    assert out.getvalue() == "careful\n"
    out = io.StringIO()
    log.setup(log.VERBOSE, stream=out)
    log.get("t").debug("detail")
    log.get("t").info("progress")
    assert out.getvalue() == "detail\nprogress\n"


def test_json_lines_carry_level_logger_message_and_fields() -> None:
    out = io.StringIO()
    log.setup(json_lines=True, stream=out)
    log.get("kafka_dedup.ingest.progress").info("batch 3", extra={"batch_id": 3})
    body = json.loads(out.getvalue())
    assert {k: body[k] for k in ("level", "logger", "message", "batch_id")} == {
        "level": "info",
        "logger": "kafka_dedup.ingest.progress",
        "message": "batch 3",
        "batch_id": 3,
    }
    assert body["time"].endswith("+00:00")


def test_default_handler_writes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    log.setup()
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log.get("t").info("one")
    monkeypatch.setattr(sys, "stderr", second)
    log.get("t").info("two")
    assert (first.getvalue(), second.getvalue()) == ("one\n", "two\n")


def test_cli_error_is_one_json_line_with_log_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["broker", "status", "--log-json", "--config", "/nonexistent.toml"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    body = json.loads(captured.err)
    assert body["level"] == "error"
    assert body["message"].startswith("kafka-dedup broker: error: config file /nonexistent.toml")
