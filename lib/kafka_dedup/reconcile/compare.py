"""How an event field and an effect column are compared: as numbers, instants, or text."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from kafka_dedup.reconcile.settings import PAYLOAD_PREFIX


def event_value(field: str) -> Column:
    """An event field as text: `payload.<path>` reads the JSON payload."""
    if field.startswith(PAYLOAD_PREFIX):
        return F.get_json_object("payload", f"$.{field[len(PAYLOAD_PREFIX) :]}")
    return F.col(field).cast("string")


def values_differ(expected: Column, actual: Column, tolerance: float) -> Column:
    """Numbers differ beyond the tolerance, times by instant, anything else as text."""
    expected_num, actual_num = expected.try_cast("double"), actual.try_cast("double")
    expected_ts, actual_ts = expected.try_cast("timestamp"), actual.try_cast("timestamp")
    both_numbers = expected_num.isNotNull() & actual_num.isNotNull()
    both_times = expected_ts.isNotNull() & actual_ts.isNotNull()
    return (
        F.when(both_numbers, F.abs(expected_num - actual_num) > F.lit(tolerance))
        .when(both_times, expected_ts != actual_ts)
        .otherwise(~expected.eqNullSafe(actual))
    )
