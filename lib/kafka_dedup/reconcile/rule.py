"""What one run expects of one source for one day, as the columns classification is built of.

Every expression here reads a grouped row of `classify.group_by_event`: its `event` struct,
its `effects` sorted by time, its `effect_count` and `recheck` flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from kafka_dedup.reconcile.settings import Source

GROUP_KEY = "gkey"  # the event key, or null for a source without key_column (event_id alone)


@dataclass(frozen=True)
class Rule:
    """What one run expects of one source for one day."""

    source: Source
    day_start: datetime
    day_end: datetime
    as_of: datetime
    grace: timedelta
    lookback: timedelta = timedelta(days=1)


def group_key(source: Source, key: Column) -> Column:
    """The key part of the identity: a source without key_column can only match event_id."""
    return key if source.key_column else F.lit(None).cast("string")


def select_identities(rows_df: DataFrame, source: Source) -> DataFrame:
    """(gkey, event_id) of rows carrying `key` and `event_id`: the groups they belong to."""
    return rows_df.select(group_key(source, F.col("key")).alias(GROUP_KEY), "event_id")


def between(time: Column, start: datetime, end: datetime) -> Column:
    """time lies in [start, end)."""
    return (time >= F.lit(start)) & (time < F.lit(end))


def expected_effects(source: Source) -> Column:
    """How many effects the group's event needs from this source (0: none expected)."""
    if not source.expects_event_types:
        return F.lit(0)
    expected_type = F.col("event.event_type").isin(*source.expects_event_types)
    return F.when(expected_type, F.lit(source.effects_per_event)).otherwise(F.lit(0))


def allowed_effects(source: Source) -> Column:
    """How many effects the event may have before the next one is a DUPLICATE."""
    return F.greatest(expected_effects(source), F.lit(1))


def effect_ids(effects: Column) -> Column:
    return F.transform(effects, lambda e: e["effect_id"])


def day_text(time: Column) -> Column:
    return F.date_format(time, "yyyy-MM-dd")


def event_in_day(rule: Rule) -> Column:
    return between(F.col("event.event_time"), rule.day_start, rule.day_end)


def in_run(rule: Rule) -> Callable[[Column], Column]:
    """effect -> it is judged by this run: it happened on the day (undated: its event's day)."""

    def check(effect: Column) -> Column:
        time = effect["effect_time"]
        undated_here = F.col("event").isNull() | event_in_day(rule)
        return F.when(time.isNull(), undated_here).otherwise(
            between(time, rule.day_start, rule.day_end)
        )

    return check


def until_day_end(rule: Rule) -> Column:
    """The group's effects up to the end of the day: what a re-run of this date sees again."""
    return F.filter(
        "effects", lambda e: e["effect_time"].isNull() | (e["effect_time"] < F.lit(rule.day_end))
    )
