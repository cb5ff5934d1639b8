"""The project's one duration grammar: '<whole number> <unit>[s]', as Spark's intervals take it.

Config keys (ingest.watermark, reconcile.lookback ...), the forensics gaps query and the
ingest lock all read durations through parse_duration, so a form accepted in one place is
accepted in every other.
"""

from __future__ import annotations

import re
from datetime import timedelta

from kafka_dedup.config.errors import ConfigError

UNITS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}
# The same text goes to Spark (withWatermark, processingTime, INTERVAL ...) unchanged, so the
# grammar stays inside what those accept: one whole amount and one unit, singular or plural.
DURATION_RE = re.compile(r"^\s*(\d+)\s+(" + "|".join(UNITS) + r")s?\s*$")
EXAMPLES = "'30 seconds' or '1 day'"


def parse_duration(text: str) -> timedelta:
    """'500 milliseconds', '90 minutes', '1 hour', '2 days' -> timedelta (ConfigError if not)."""
    match = DURATION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{text!r}: expected a duration like {EXAMPLES}")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def is_duration(text: str) -> bool:
    """Whether text is in the duration grammar."""
    return isinstance(text, str) and DURATION_RE.match(text) is not None


def duration_seconds(text: str) -> float:
    """A duration ('30 seconds', '1 day') in seconds."""
    return parse_duration(text).total_seconds()


def describe(delta: timedelta) -> str:
    """timedelta -> '1 hour', '90 minutes', '2 days': the form the config takes."""
    millis = round(delta.total_seconds() * 1000)
    if millis % 1000:
        return f"{millis} milliseconds"
    seconds = millis // 1000
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
