"""Parse Kafka records into `deliveries` rows: envelope fields where valid, a reason where not."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kafka_dedup import tables
from kafka_dedup.config import IngestConfig
from kafka_dedup.config.mapping import AVRO, TopicMapping, avro_mappings

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
from kafka_dedup.ingest import avro
from kafka_dedup.ingest import mapping as mapping_mod
from kafka_dedup.ingest.mapping import INTEGER
from kafka_dedup.ingest.schemas import WriterSchema

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
ROUTE = "_route"  # which mapping reads the record: 0 none (the envelope), i the i-th
DEFAULT_MAX_FUTURE_SKEW = IngestConfig.max_future_skew


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def _switch(branches: list[Column]) -> Column:
    """branches[0] for records of no mapping (the envelope), branches[i] for mapping i."""
    if len(branches) == 1:
        return branches[0]
    route = F.col(ROUTE)
    result = F.when(route == 1, branches[1])
    for index, branch in enumerate(branches[2:], start=2):
        result = result.when(route == index, branch)
    return result.otherwise(branches[0])


def _route(mappings: tuple[TopicMapping, ...]) -> Column:
    """1 + the index of the first mapping whose topic matches, 0 for none (the envelope)."""
    topic = F.col("topic")
    matches = [
        topic == m.topic if m.topic else topic.rlike(f"^(?:{m.topic_pattern})$") for m in mappings
    ]
    result = F.when(matches[0], F.lit(1))
    for index, match in enumerate(matches[1:], start=2):
        result = result.when(match, F.lit(index))
    return result.otherwise(F.lit(0))


def _record_columns(
    mapping: TopicMapping, schemas: Mapping[int, WriterSchema]
) -> dict[str, Column]:
    """The record as a VARIANT, and the reason (with its detail) when it cannot be one."""
    if mapping.format == AVRO:
        reason, detail = avro.format_error(F.col(mapping_mod.DOC), schemas)
        return {
            mapping_mod.DOC: avro.decoded(schemas),
            "_value_ok": F.lit(True),  # binary: there is no UTF-8 to check
            "_format_error": reason,
            "_format_detail": detail,
        }
    text = F.col("value").cast("string")
    is_object = F.col(mapping_mod.DOC).isNotNull() & F.ltrim(text).startswith("{")
    return {
        mapping_mod.DOC: F.expr("try_parse_json(cast(value as string))"),
        "_value_ok": F.coalesce(F.col("_value_ok_utf8"), F.lit(True)),
        "_format_error": F.when(~is_object, F.lit(INVALID_JSON)),
        "_format_detail": F.lit(None).cast("string"),
    }


def with_envelope(
    kafka_df: DataFrame,
    mappings: tuple[TopicMapping, ...] = (),
    schemas: Mapping[int, WriterSchema] | None = None,
) -> DataFrame:
    """Add the record's fields as text columns (`_key`, `_event_id`, `_event_time_text`, ...),
    the UTF-8 and format checks and the event_time as a timestamp, each computed once per
    record: from the JSON envelope (`env`), or, for a topic of `mappings`, as its mapping says
    (see ingest.mapping). `schemas` holds the writer schemas of the Avro records' ids."""
    kafka_key = F.col("_kafka_key")
    env = F.col("env")
    records = [_record_columns(m, schemas or {}) for m in mappings]
    base = {
        "_key_ok_utf8": F.col("key").isNull() | F.expr("is_valid_utf8(cast(key as string))"),
        "_value_ok_utf8": F.expr("is_valid_utf8(cast(value as string))"),
        "_kafka_key": F.col("key").cast("string"),
        "env": F.from_json(F.col("value").cast("string"), ENVELOPE_SCHEMA, JSON_OPTIONS),
    }
    if mappings:  # each record is parsed only as its route says
        kafka_df = kafka_df.withColumn(ROUTE, _route(mappings))
        base["env"] = F.when(F.col(ROUTE) == 0, base["env"])
        base[mapping_mod.DOC] = _switch([F.lit(None), *(r[mapping_mod.DOC] for r in records)])
    if avro_mappings(mappings):
        kafka_df = kafka_df.withColumn(avro.SCHEMA_ID, avro.schema_id())
    envelope_error = F.when(env[CORRUPT].isNotNull() | env.isNull(), F.lit(INVALID_JSON))
    each = mappings  # one branch per mapping, after the envelope's
    fields = {
        "_key": [
            F.when(~_blank(kafka_key), kafka_key).otherwise(env["key"]),
            *(mapping_mod.first_of(m.key) for m in each),
        ],
        "_key_ok": [F.col("_key_ok_utf8"), *(mapping_mod.key_ok_utf8(m) for m in each)],
        "_value_ok": [
            F.coalesce(F.col("_value_ok_utf8"), F.lit(True)),
            *(r["_value_ok"] for r in records),
        ],
        "_event_id": [env["event_id"], *(mapping_mod.event_id(m) for m in each)],
        "_event_type": [env["event_type"], *(mapping_mod.first_of(m.event_type) for m in each)],
        "_producer_id": [
            env["producer_id"],
            *(mapping_mod.first_of(m.producer_id) for m in each),
        ],
        "_payload": [env["payload"], *(mapping_mod.first_of(m.payload) for m in each)],
        "_sequence_text": [
            F.trim(env["sequence"]),
            *(F.trim(mapping_mod.first_of(m.sequence)) for m in each),
        ],
        "_time_from_kafka": [F.lit(False), *(mapping_mod.time_from_kafka(m) for m in each)],
        "_format_error": [envelope_error, *(r["_format_error"] for r in records)],
        "_format_detail": [F.lit(None).cast("string"), *(r["_format_detail"] for r in records)],
    }
    time_text = F.col("_event_time_text")
    return (
        kafka_df.withColumns(base)
        .withColumns({name: _switch(branches) for name, branches in fields.items()})
        .withColumn(
            "_event_time_text",
            _switch(
                [
                    F.trim(env["event_time"]),
                    *(F.trim(mapping_mod.event_time_text(m)) for m in each),
                ]
            ),
        )
        .withColumn(
            "_event_time",
            _switch(
                [
                    mapping_mod.event_time_iso(time_text),
                    *(mapping_mod.event_time(m, time_text) for m in each),
                ]
            ),
        )
    )


def avro_schema_ids(kafka_df: DataFrame, mappings: tuple[TopicMapping, ...]) -> list[int]:
    """The writer schema ids the records of the Avro mappings' topics carry (one pass)."""
    avro_routes = [i for i, m in enumerate(mappings, start=1) if m.format == AVRO]
    if not avro_routes:
        return []
    return avro.batch_schema_ids(kafka_df.where(_route(mappings).isin(avro_routes)))


def parse_error(max_future_skew: str) -> Column:
    """The first reason a record cannot be used, or null when it is a valid event; reads
    the raw `value` and the columns `with_envelope` added. An event_time more than
    max_future_skew (e.g. '15 minutes') ahead of the ingest clock is a reason too."""
    value = F.col("value")
    event_time = F.col("_event_time_text")
    sequence = F.col("_sequence_text")
    bytes_ok_utf8 = F.col("_key_ok") & F.col("_value_ok")
    return (
        F.when(value.isNull() | (F.length(value) == 0), F.lit(EMPTY_VALUE))
        .when(~bytes_ok_utf8, F.lit(INVALID_UTF8))
        .when(F.col("_format_error").isNotNull(), F.col("_format_error"))
        .when(_blank(F.col("_event_id")), F.lit(MISSING_EVENT_ID))
        .when(_blank(event_time), F.lit(MISSING_EVENT_TIME))
        .when(F.col("_event_time").isNull(), F.lit(INVALID_EVENT_TIME))
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
    kafka_df: DataFrame,
    max_future_skew: str = DEFAULT_MAX_FUTURE_SKEW,
    mappings: tuple[TopicMapping, ...] = (),
    schemas: Mapping[int, WriterSchema] | None = None,
) -> DataFrame:
    """Kafka source rows -> deliveries rows (without ingest bookkeeping columns); records of
    a topic in `mappings` are read as its mapping says, all others as the JSON envelope;
    `schemas` are the writer schemas of the batch's Avro records (see avro_schema_ids).

    Built in steps so that the envelope is parsed once and the reason is computed once per
    record: a single projection would repeat the reason expression in every column that
    depends on it, and Spark would evaluate it each time (that made parsing 4x slower)."""
    env = F.col("env")
    reason = F.col("parse_error")
    is_valid = reason.isNull()
    details = [
        error_detail(reason, env, max_future_skew),
        *(mapping_mod.error_detail(m, reason, max_future_skew) for m in mappings),
    ]
    return (
        with_envelope(kafka_df, mappings, schemas)
        .withColumn("parse_error", parse_error(max_future_skew))
        .select(
            *COORDINATES,
            F.col("timestamp").alias("kafka_timestamp"),
            F.col("timestampType").alias("kafka_timestamp_type"),
            F.col("key").alias("raw_key"),
            F.col("value").alias("raw_value"),
            F.col("headers"),
            F.when(F.col("_key_ok") & ~_blank(F.col("_key")), F.col("_key")).alias("key"),
            F.when(~_blank(F.col("_event_id")), F.col("_event_id")).alias("event_id"),
            F.col("_event_type").alias("event_type"),
            F.when(is_valid, F.col("_event_time")).alias("event_time"),
            F.when(is_valid, F.col("_sequence_text").try_cast("long")).alias("sequence"),
            F.col("_producer_id").alias("producer_id"),
            F.col("_payload").alias("payload"),
            reason,
            _switch(details).alias("parse_error_detail"),
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
