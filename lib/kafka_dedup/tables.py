"""The Delta tables of the public contract: names, schemas, partitioning, statistics columns.

Where they live and how they are created: kafka_dedup.warehouse.
"""

from __future__ import annotations

from pyspark.sql import types as T

DELIVERIES = "deliveries"
EVENTS = "events"
ENTITY_STATE = "entity_state"
QUARANTINE = "quarantine"
INGEST_BATCHES = "ingest_batches"
RECONCILIATION_FINDINGS = "reconciliation_findings"
RECONCILIATION_RUNS = "reconciliation_runs"

HEADERS_TYPE = T.ArrayType(
    T.StructType([T.StructField("key", T.StringType()), T.StructField("value", T.BinaryType())])
)

# One row per Kafka record read, malformed ones too.
DELIVERIES_SCHEMA = T.StructType(
    [
        T.StructField("topic", T.StringType(), False),
        T.StructField("partition", T.IntegerType(), False),
        T.StructField("offset", T.LongType(), False),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("kafka_timestamp_type", T.IntegerType()),
        T.StructField("raw_key", T.BinaryType()),
        T.StructField("raw_value", T.BinaryType()),
        T.StructField("headers", HEADERS_TYPE),
        T.StructField("key", T.StringType()),
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("sequence", T.LongType()),
        T.StructField("producer_id", T.StringType()),
        T.StructField("payload", T.StringType()),
        T.StructField("parse_error", T.StringType()),
        T.StructField("parse_error_detail", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("ingest_batch_id", T.LongType()),
        T.StructField("ingest_query_id", T.StringType()),
    ]
)

# One row per unique (key, event_id), with its first-seen coordinates.
EVENTS_SCHEMA = T.StructType(
    [
        T.StructField("key", T.StringType(), False),
        T.StructField("event_id", T.StringType(), False),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType(), False),
        T.StructField("event_date", T.DateType(), False),
        T.StructField("sequence", T.LongType()),
        T.StructField("producer_id", T.StringType()),
        T.StructField("payload", T.StringType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("ingested_at", T.TimestampType()),
        T.StructField("merged_by", T.StringType()),
    ]
)

# One row per key: the latest version by sequence, then event_time.
ENTITY_STATE_SCHEMA = T.StructType(
    [
        T.StructField("key", T.StringType(), False),
        T.StructField("event_id", T.StringType(), False),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType(), False),
        T.StructField("sequence", T.LongType()),
        T.StructField("producer_id", T.StringType()),
        T.StructField("payload", T.StringType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("updated_at", T.TimestampType()),
    ]
)

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("topic", T.StringType(), False),
        T.StructField("partition", T.IntegerType(), False),
        T.StructField("offset", T.LongType(), False),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("raw_key", T.BinaryType()),
        T.StructField("raw_value", T.BinaryType()),
        T.StructField("reason", T.StringType(), False),
        T.StructField("detail", T.StringType()),
        T.StructField("quarantined_at", T.TimestampType()),
    ]
)

INGEST_BATCHES_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("query", T.StringType()),
        T.StructField("batch_id", T.LongType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("duration_ms", T.LongType()),
        T.StructField("records_read", T.LongType()),
        T.StructField("malformed", T.LongType()),
        T.StructField("duplicates_removed_by_state", T.LongType()),
        T.StructField("duplicates_caught_by_merge", T.LongType()),
        T.StructField("late_rows", T.LongType()),
        T.StructField("rows_inserted", T.LongType()),
        T.StructField("state_updates", T.LongType()),
        T.StructField("watermark", T.TimestampType()),
    ]
)

# One row per discrepancy a reconcile run found; a re-run of a run_date replaces its rows.
RECONCILIATION_FINDINGS_SCHEMA = T.StructType(
    [
        T.StructField("run_date", T.DateType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("finding_type", T.StringType(), False),
        T.StructField("event_id", T.StringType()),
        T.StructField("key", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("effect_count", T.IntegerType()),
        T.StructField("effect_ids", T.ArrayType(T.StringType())),
        T.StructField("field", T.StringType()),
        T.StructField("expected", T.StringType()),
        T.StructField("actual", T.StringType()),
        T.StructField("action", T.StringType(), False),
        T.StructField("detail", T.StringType(), False),
        T.StructField("finding_time", T.TimestampType()),
        T.StructField("partial", T.BooleanType()),  # found by a run before its day was over
    ]
)

# One row per run_date (the latest attempt; earlier ones stay in the Delta history).
RECONCILIATION_RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_date", T.DateType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("exit_code", T.IntegerType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("finished_at", T.TimestampType()),
        T.StructField("as_of", T.TimestampType()),
        T.StructField("sources", T.ArrayType(T.StringType())),
        T.StructField("events_in_day", T.LongType()),
        T.StructField("effects_read", T.LongType()),
        T.StructField("malformed_effects", T.LongType()),
        T.StructField("pending", T.LongType()),
        T.StructField("missing", T.LongType()),
        T.StructField("duplicate", T.LongType()),
        T.StructField("orphan", T.LongType()),
        T.StructField("mismatch", T.LongType()),
        T.StructField("unmerged", T.LongType()),
        T.StructField("late_effect", T.LongType()),
        T.StructField("unmergeable", T.LongType()),
        T.StructField("unmerged_inserted", T.LongType()),
        T.StructField("thresholds_exceeded", T.ArrayType(T.StringType())),
        T.StructField("report_path", T.StringType()),
        T.StructField("summary_json", T.StringType()),
        T.StructField("error", T.StringType()),
    ]
)

SCHEMAS: dict[str, T.StructType] = {
    DELIVERIES: DELIVERIES_SCHEMA,
    EVENTS: EVENTS_SCHEMA,
    ENTITY_STATE: ENTITY_STATE_SCHEMA,
    QUARANTINE: QUARANTINE_SCHEMA,
    INGEST_BATCHES: INGEST_BATCHES_SCHEMA,
    RECONCILIATION_FINDINGS: RECONCILIATION_FINDINGS_SCHEMA,
    RECONCILIATION_RUNS: RECONCILIATION_RUNS_SCHEMA,
}
PARTITIONING: dict[str, list[str]] = {EVENTS: ["event_date"], RECONCILIATION_FINDINGS: ["run_date"]}
# File statistics only for the columns queries filter on: Delta otherwise computes min/max
# and null counts of the first 32 columns (raw bytes and JSON text too) on every write.
STATS_COLUMNS: dict[str, list[str]] = {
    DELIVERIES: [
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        "key",
        "event_id",
        "event_time",
        "parse_error",
        "ingested_at",
        "ingest_batch_id",
        "ingest_query_id",
    ],
    EVENTS: ["key", "event_id", "event_type", "event_time", "sequence", "offset"],
}
# Table properties set at creation, and added to an existing table on its next `ensure`.
# entity_state takes deletion vectors: its MERGE updates keys spread over every file, and
# without them Delta rewrites each touched file whole, so a batch costs as much as the table.
PROPERTIES: dict[str, dict[str, str]] = {
    ENTITY_STATE: {"delta.enableDeletionVectors": "true"},
}
ALL_TABLES = (
    DELIVERIES,
    EVENTS,
    ENTITY_STATE,
    QUARANTINE,
    INGEST_BATCHES,
    RECONCILIATION_FINDINGS,
    RECONCILIATION_RUNS,
)
