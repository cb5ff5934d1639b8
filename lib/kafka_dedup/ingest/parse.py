"""Parse Kafka records into `deliveries` rows: envelope fields where valid, a reason where not."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kafka_dedup import tables
from kafka_dedup.config import IngestConfig

# The reasons written to deliveries.parse_error and quarantine.reason are the domain's.
from kafka_dedup.domain import (
    COORDINATES,
    EMPTY_VALUE,
    FUTURE_EVENT_TIME,
    INVALID_EVENT_TIME,
    INVALID_JSON,
    INVALID_SEQUENCE,
    INVALID_UTF8,
    MISSING_EVENT_ID,
    MISSING_EVENT_TIME,
    MISSING_KEY,
)

CORRUPT = "_corrupt_record"
# Every field is read as a string so a wrong type marks one field, not the whole record;
# Spark returns an object-valued string field (payload) as its JSON text.
ENVELOPE_SCHEMA = T.StructType(
    [
        T.StructField(name, T.StringType())
        for name in (
            "event_id",
            "event_type",
            "event_time",
            "sequence",
            "producer_id",
            "key",
            "payload",
            CORRUPT,
        )
    ]
)
JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
# Spark casts also accept words such as 'yesterday' or 'now'; an event time must be ISO-8601.
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
INTEGER = r"^-?\d{1,18}$"
DEFAULT_MAX_FUTURE_SKEW = IngestConfig.max_future_skew


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def with_envelope(kafka_df: DataFrame) -> DataFrame:
    """Add `env` (the parsed JSON envelope), the UTF-8 checks, the resolved text key and
    the trimmed event_time and sequence texts and the event_time as a timestamp, each
    computed once per record."""
    kafka_key = F.col("_kafka_key")
    return (
        kafka_df.withColumns(
            {
                "_key_ok_utf8": F.col("key").isNull()
                | F.expr("is_valid_utf8(cast(key as string))"),
                "_value_ok_utf8": F.expr("is_valid_utf8(cast(value as string))"),
                "_kafka_key": F.col("key").cast("string"),
                "env": F.from_json(F.col("value").cast("string"), ENVELOPE_SCHEMA, JSON_OPTIONS),
            }
        )
        .withColumns(
            {
                "_key": F.when(~_blank(kafka_key), kafka_key).otherwise(F.col("env")["key"]),
                "_event_time_text": F.trim(F.col("env")["event_time"]),
                "_sequence_text": F.trim(F.col("env")["sequence"]),
            }
        )
        .withColumn("_event_time", F.col("_event_time_text").try_cast("timestamp"))
    )


def parse_error(max_future_skew: str) -> Column:
    """The first reason a record cannot be used, or null when it is a valid event; reads
    the raw `value` and the columns `with_envelope` added. An event_time more than
    max_future_skew (e.g. '15 minutes') ahead of the ingest clock is a reason too."""
    env = F.col("env")
    value = F.col("value")
    event_time = F.col("_event_time_text")
    sequence = F.col("_sequence_text")
    bytes_ok_utf8 = F.col("_key_ok_utf8") & F.coalesce(F.col("_value_ok_utf8"), F.lit(True))
    return (
        F.when(value.isNull() | (F.length(value) == 0), F.lit(EMPTY_VALUE))
        .when(~bytes_ok_utf8, F.lit(INVALID_UTF8))
        .when(env[CORRUPT].isNotNull() | env.isNull(), F.lit(INVALID_JSON))
        .when(_blank(env["event_id"]), F.lit(MISSING_EVENT_ID))
        .when(_blank(event_time), F.lit(MISSING_EVENT_TIME))
        .when(
            ~event_time.rlike(ISO_8601) | F.col("_event_time").isNull(),
            F.lit(INVALID_EVENT_TIME),
        )
        .when(
            F.col("_event_time") > F.current_timestamp() + _interval(max_future_skew),
            F.lit(FUTURE_EVENT_TIME),
        )
        .when(sequence.isNotNull() & ~sequence.rlike(INTEGER), F.lit(INVALID_SEQUENCE))
        .when(_blank(F.col("_key")), F.lit(MISSING_KEY))
    )


def _interval(duration: str) -> Column:
    # validated by config (DURATION_RE) before it gets here
    return F.expr(f"INTERVAL {duration}")


def error_detail(reason: Column, env: Column, max_future_skew: str) -> Column:
    """A short human-readable explanation of the reason."""
    return (
        F.when(reason == INVALID_JSON, F.lit("value is not a JSON object"))
        .when(reason == INVALID_UTF8, F.lit("key or value is not valid UTF-8"))
        .when(reason == EMPTY_VALUE, F.lit("value is null or empty (tombstone?)"))
        .when(reason == MISSING_EVENT_ID, F.lit("envelope has no event_id"))
        .when(reason == MISSING_EVENT_TIME, F.lit("envelope has no event_time"))
        .when(
            reason == INVALID_EVENT_TIME,
            F.concat(F.lit("event_time is not ISO-8601: "), env["event_time"]),
        )
        .when(
            reason == FUTURE_EVENT_TIME,
            F.concat(
                F.lit(f"event_time is more than {max_future_skew} ahead of the ingest clock: "),
                env["event_time"],
            ),
        )
        .when(
            reason == INVALID_SEQUENCE,
            F.concat(F.lit("sequence is not an integer: "), env["sequence"]),
        )
        .when(reason == MISSING_KEY, F.lit("neither the Kafka key nor the envelope has a key"))
    )


def parse_deliveries(
    kafka_df: DataFrame, max_future_skew: str = DEFAULT_MAX_FUTURE_SKEW
) -> DataFrame:
    """Kafka source rows -> deliveries rows (without ingest bookkeeping columns).

    Built in steps so that the envelope is parsed once and the reason is computed once per
    record: a single projection would repeat the reason expression in every column that
    depends on it, and Spark would evaluate it each time (that made parsing 4x slower)."""
    env = F.col("env")
    reason = F.col("parse_error")
    is_valid = reason.isNull()
    return (
        with_envelope(kafka_df)
        .withColumn("parse_error", parse_error(max_future_skew))
        .select(
            *COORDINATES,
            F.col("timestamp").alias("kafka_timestamp"),
            F.col("timestampType").alias("kafka_timestamp_type"),
            F.col("key").alias("raw_key"),
            F.col("value").alias("raw_value"),
            F.col("headers"),
            F.when(F.col("_key_ok_utf8") & ~_blank(F.col("_key")), F.col("_key")).alias("key"),
            F.when(~_blank(env["event_id"]), env["event_id"]).alias("event_id"),
            env["event_type"].alias("event_type"),
            F.when(is_valid, F.col("_event_time")).alias("event_time"),
            F.when(is_valid, F.col("_sequence_text").try_cast("long")).alias("sequence"),
            env["producer_id"].alias("producer_id"),
            env["payload"].alias("payload"),
            reason,
            error_detail(reason, env, max_future_skew).alias("parse_error_detail"),
        )
    )


def with_ingest_columns(deliveries_df: DataFrame, batch_id: int, query_id: str) -> DataFrame:
    """Stamp ingest time, batch and streaming query id (stable across restarts from one
    checkpoint), and order columns as the deliveries table has them."""
    return deliveries_df.withColumns(
        {
            "ingested_at": F.current_timestamp(),
            "ingest_batch_id": F.lit(batch_id).cast("long"),
            "ingest_query_id": F.lit(query_id),
        }
    ).select(*tables.DELIVERIES_SCHEMA.fieldNames())


def to_quarantine(deliveries_df: DataFrame) -> DataFrame:
    """The malformed deliveries, shaped as quarantine rows."""
    return deliveries_df.where(F.col("parse_error").isNotNull()).select(
        *COORDINATES,
        "kafka_timestamp",
        "raw_key",
        "raw_value",
        F.col("parse_error").alias("reason"),
        F.col("parse_error_detail").alias("detail"),
        F.col("ingested_at").alias("quarantined_at"),
    )
