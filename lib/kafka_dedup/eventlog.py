"""The event log's MERGEs: valid deliveries into `events` (insert-only) and `entity_state`.

Shared by the streaming ingest and the nightly reconcile (which repairs UNMERGED events).
Idempotent by themselves: a replayed batch finds its rows in events, and entity_state only
moves to strictly newer versions. That is also why a MERGE that loses a commit race with
another writer of the table (ingest beside the nightly reconcile) is simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from kafka_dedup import conflicts, domain, tables

MIN_LONG = -(2**63)
BROADCAST_KEYS = 1_000_000  # batch keys few enough to ship to every task of a join


@dataclass(frozen=True)
class MergeCounts:
    unique_in_batch: int = 0
    inserted: int = 0
    duplicates_caught_by_merge: int = 0
    state_updates: int = 0


def dedup_batch(valid_df: DataFrame) -> DataFrame:
    """One row per (key, event_id) inside a batch: the first-seen copy."""
    first_seen = Window.partitionBy(*domain.IDENTITY).orderBy(*domain.FIRST_SEEN_ORDER)
    return (
        valid_df.withColumn("_copy", F.row_number().over(first_seen))
        .where(F.col("_copy") == 1)
        .drop("_copy")
    )


def to_events(deliveries_df: DataFrame, merged_by: str) -> DataFrame:
    """Valid deliveries shaped as `events` rows."""
    return deliveries_df.select(
        "key",
        "event_id",
        "event_type",
        "event_time",
        F.to_date("event_time").alias("event_date"),
        "sequence",
        "producer_id",
        "payload",
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        F.current_timestamp().alias("ingested_at"),
        F.lit(merged_by).alias("merged_by"),
    )


def latest_per_key(events_df: DataFrame) -> DataFrame:
    """One `entity_state` candidate per key: the newest version in the batch.

    A max over a struct that starts with the version order (higher sequence, null lowest,
    then later event_time, then event_id) is a hash aggregation with partial aggregation
    before the shuffle, instead of a sort of every row by key."""
    state_columns = tables.ENTITY_STATE_SCHEMA.fieldNames()[:-1]
    newest = F.max(
        F.struct(
            F.coalesce(F.col("sequence"), F.lit(MIN_LONG)).alias("_sequence_order"),
            F.col("event_time").alias("_event_time_order"),
            F.col("event_id").alias("_event_id_order"),
            *state_columns,
        )
    ).alias("_newest")
    return (
        events_df.groupBy("key")
        .agg(newest)
        .select(
            *(F.col("_newest")[name].alias(name) for name in state_columns),
            F.current_timestamp().alias("updated_at"),
        )
    )


def is_newer_version() -> Column:
    """The source row is a strictly newer version than the target row (replays are not)."""
    source_seq = F.coalesce(F.col("s.sequence"), F.lit(MIN_LONG))
    target_seq = F.coalesce(F.col("t.sequence"), F.lit(MIN_LONG))
    later_same_seq = (source_seq == target_seq) & (F.col("s.event_time") > F.col("t.event_time"))
    return (source_seq > target_seq) | later_same_seq


def _affected(metrics_df: DataFrame | None, column: str) -> int:
    if metrics_df is None:
        return 0
    row = metrics_df.first()
    return int(row[column]) if row is not None and row[column] is not None else 0


def merge_events(events: DeltaTable, events_df: DataFrame, event_dates: list[date]) -> int:
    """Insert-only MERGE; the ON clause names the batch's event dates so only those are scanned."""
    dates = ", ".join(f"DATE'{d.isoformat()}'" for d in event_dates)
    on = (
        f"t.event_date IN ({dates}) AND t.event_date = s.event_date "
        "AND t.key = s.key AND t.event_id = s.event_id"
    )

    def merge() -> int:
        metrics_df = (
            events.alias("t").merge(events_df.alias("s"), on).whenNotMatchedInsertAll().execute()
        )
        return _affected(metrics_df, "num_inserted_rows")

    return conflicts.retrying(merge, f"MERGE into {tables.EVENTS}")


def filter_newer(latest_df: DataFrame, state_df: DataFrame, broadcast: bool = False) -> DataFrame:
    """The candidates that would change entity_state: a new key or a strictly newer version.

    Filtering before the MERGE keeps a replayed batch from touching the table at all: Delta
    rewrites every file holding a matched key even when the update condition is false.
    The state rows are first narrowed to the batch's keys by a semi-join, so only the
    batch's rows are joined, not the table's; `broadcast` ships the batch's keys to every
    scan task (no shuffle of the table) and suits batches of up to BROADCAST_KEYS keys."""
    keys_df = latest_df.select("key")
    current_df = (
        state_df.select("key", "sequence", "event_time")
        .join(F.broadcast(keys_df) if broadcast else keys_df, "key", "left_semi")
        .alias("t")
    )
    is_new_key = F.col("t.key").isNull()
    return (
        latest_df.alias("s")
        .join(
            F.broadcast(current_df) if broadcast else current_df,
            F.col("s.key") == F.col("t.key"),
            how="left",
        )
        .where(is_new_key | is_newer_version())
        .select("s.*")
    )


def merge_entity_state(state: DeltaTable, latest_df: DataFrame) -> int:
    """Move each key to a strictly newer version; never back, and a replay commits nothing.

    A batch of at most BROADCAST_KEYS keys is joined to the table by broadcast in the version
    filter: each task scans its part of the table against the batch, with no shuffle of the
    table. The MERGE's source is hinted too: Delta logs that hint as "not part of a join
    relation" for a plan it makes from its own copy of the source, but bench/merge (`--variants
    dv`) ran its 10M-row entity_state batches slower without the hint, so it stays."""
    latest_df = latest_df.localCheckpoint(eager=True)
    broadcast = latest_df.count() <= BROADCAST_KEYS

    def merge() -> int:
        newer_df = filter_newer(latest_df, state.toDF(), broadcast).localCheckpoint(eager=True)
        if newer_df.isEmpty():
            return 0
        source_df = F.broadcast(newer_df) if broadcast else newer_df
        metrics_df = (
            state.alias("t")
            .merge(source_df.alias("s"), "t.key = s.key")
            .whenMatchedUpdateAll(condition=is_newer_version())
            .whenNotMatchedInsertAll()
            .execute()
        )
        return _affected(metrics_df, "num_affected_rows")

    return conflicts.retrying(merge, f"MERGE into {tables.ENTITY_STATE}")


def filter_valid(deliveries_df: DataFrame) -> DataFrame:
    """The deliveries that parsed (quarantined ones never reach the event log)."""
    return deliveries_df.where(F.col("parse_error").isNull())


def merge_deliveries(
    events: DeltaTable, state: DeltaTable, deliveries_df: DataFrame, merged_by: str
) -> MergeCounts:
    """Merge deliveries (deliveries columns, any number of copies per event) into the log."""
    return merge_unique(events, state, dedup_batch(filter_valid(deliveries_df)), merged_by)


def merge_unique(
    events: DeltaTable, state: DeltaTable, unique_df: DataFrame, merged_by: str
) -> MergeCounts:
    """Merge valid deliveries already one row per (key, event_id) (as the stream's dedup
    operator leaves them) into events and entity_state."""
    # Computed once: the source may be a micro-batch whose every re-run would execute the
    # streaming dedup operator again.
    events_df = to_events(unique_df, merged_by).localCheckpoint(eager=True)
    per_date = events_df.groupBy("event_date").count().collect()  # the dates and the total
    if not per_date:
        return MergeCounts()
    event_dates = sorted(row.event_date for row in per_date)
    unique = sum(row["count"] for row in per_date)
    inserted = merge_events(events, events_df, event_dates)
    state_updates = merge_entity_state(state, latest_per_key(events_df))
    return MergeCounts(unique, inserted, unique - inserted, state_updates)
