"""Messages to people: `logging` under the `kafka_dedup` logger, set up once by the CLI.

Human lines (the message alone) on stderr by default; JSON lines on request, for machines.
A command's actual output (a report, a table, a run id) is printed on stdout, not logged.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, Any

ROOT = "kafka_dedup"
QUIET, NORMAL, VERBOSE = -1, 0, 1
LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}
# LogRecord attributes that are not extras passed by the caller
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


class _CurrentStderr(logging.StreamHandler):
    """Writes to sys.stderr as it is at each message: a test runner swaps it per test, and a
    handler holding the stream of set-up time would write into a closed capture."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def setup(verbosity: int = NORMAL, json_lines: bool = False, stream: IO[str] | None = None) -> None:
    """Route the project's messages to `stream` (stderr) at the level `verbosity` asks for."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(LEVELS[max(QUIET, min(VERBOSE, verbosity))])
    logger.propagate = False


def get(name: str) -> logging.Logger:
    """The logger of a module (`log.get(__name__)`), under the project's root logger."""
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")
