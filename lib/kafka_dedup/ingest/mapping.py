"""Spark columns that read one [[ingest.mappings]] table's fields out of a Kafka record.

The record is first held as a VARIANT (`DOC`): JSON is parsed into one once, a decoded Avro
record is converted to one, so every field path is a `try_variant_get` and the content hash
hashes `to_json` of variants, whose objects Spark writes with their keys sorted: the same
logical fields serialise to the same text however a producer ordered or spaced them.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from kafka_dedup.config.mapping import (
    AVRO,
    EPOCH_MILLIS,
    EPOCH_SECONDS,
    KAFKA,
    TopicMapping,
    hash_fields,
    header_name,
    is_header,
)
from kafka_dedup.domain import (
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

DOC = "_doc"  # the record as a VARIANT (null when it is not one)
# Spark casts also accept words such as 'yesterday' or 'now'; an event time must be ISO-8601.
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
INTEGER = r"^-?\d{1,18}$"
DECIMAL = r"^-?\d{1,12}(\.\d{1,9})?$"
TIME_FORMAT_NAMES = {EPOCH_MILLIS: "epoch milliseconds", EPOCH_SECONDS: "epoch seconds"}


def _lit_sql(text: str) -> str:
    """text as a SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def header(name: str) -> Column:
    """The last header `name` as text (Kafka's lastHeader), null when absent or not UTF-8."""
    matching = F.filter(F.col("headers"), lambda h: h["key"] == F.lit(name))
    value = F.try_element_at(matching, F.lit(-1))["value"].cast("string")
    return F.when(F.call_function("is_valid_utf8", value), value)


def variant_at(path: str) -> Column:
    return F.expr(f"try_variant_get({DOC}, {_lit_sql(path)}, 'variant')")


def text_at(path: str) -> Column:
    """The field at path as text: scalars as written, objects and arrays as canonical JSON."""
    if path == "$":
        return F.to_json(F.col(DOC))
    return F.expr(f"try_variant_get({DOC}, {_lit_sql(path)}, 'string')")


def source_text(source: str) -> Column:
    """One source's value as text (never 'kafka' for event_time: see event_time)."""
    if source == KAFKA:
        return F.col("key").cast("string")
    if is_header(source):
        return header(header_name(source))
    return text_at(source)


def first_of(sources: tuple[str, ...]) -> Column:
    """The first source with a non-blank value, or null."""
    if not sources:
        return F.lit(None).cast("string")
    texts = [source_text(source) for source in sources]
    result = F.when(~blank(texts[0]), texts[0])
    for text in texts[1:]:
        result = result.when(~blank(text), text)
    return result


def _missing(value: Column) -> Column:
    return value.isNull() | F.call_function("is_variant_null", value)


def content_hash(fields: tuple[str, ...]) -> Column:
    """SHA-256 of the chosen fields as one canonical JSON object; null when one is missing,
    so records lacking a field are quarantined rather than all hashed alike."""
    values = [variant_at(path) for path in fields]
    canonical = F.to_json(F.struct(*(variant_at(path).alias(path) for path in fields)))
    any_missing = F.lit(False)
    for value in values:
        any_missing = any_missing | _missing(value)
    return F.when(~any_missing, F.sha2(canonical, 256))


def missing_hash_fields(fields: tuple[str, ...]) -> Column:
    return F.concat_ws(", ", *(F.when(_missing(variant_at(p)), F.lit(p)) for p in fields))


def event_id(mapping: TopicMapping) -> Column:
    fields = hash_fields(mapping.event_id[0])
    return content_hash(fields) if fields is not None else first_of(mapping.event_id)


def time_from_kafka(mapping: TopicMapping) -> Column:
    """True when event_time falls back to the Kafka timestamp (config: 'kafka' comes last)."""
    if mapping.event_time[-1] != KAFKA:
        return F.lit(False)
    return blank(first_of(mapping.event_time[:-1]))


def event_time_text(mapping: TopicMapping) -> Column:
    fields = mapping.event_time[:-1] if mapping.event_time[-1] == KAFKA else mapping.event_time
    return F.when(F.col("_time_from_kafka"), F.col("timestamp").cast("string")).otherwise(
        first_of(fields)
    )


def event_time_iso(text: Column) -> Column:
    return F.when(text.rlike(ISO_8601), text.try_cast("timestamp"))


def event_time(mapping: TopicMapping, text: Column) -> Column:
    """The event time from its text in the mapping's format, null when it is not in it."""
    if mapping.event_time_format == EPOCH_MILLIS:
        parsed = F.when(text.rlike(INTEGER), F.timestamp_millis(text.cast("long")))
    elif mapping.event_time_format == EPOCH_SECONDS:
        parsed = F.when(text.rlike(DECIMAL), F.timestamp_seconds(text.cast("decimal(21,9)")))
    else:
        parsed = event_time_iso(text)
    if mapping.format == AVRO and mapping.event_time_format in TIME_FORMAT_NAMES:
        # an Avro timestamp-millis/-micros field is decoded as a timestamp, read as such
        parsed = F.coalesce(parsed, event_time_iso(text))
    return F.when(F.col("_time_from_kafka"), F.col("timestamp")).otherwise(parsed)


def key_ok_utf8(mapping: TopicMapping) -> Column:
    """The Kafka key must be UTF-8 only where it is the key (an Avro key need not be)."""
    if KAFKA not in mapping.key:
        return F.lit(True)
    return F.col("_key_ok_utf8")


def _describe(sources: tuple[str, ...]) -> str:
    names = [
        "the Kafka key" if s == KAFKA else f"header {header_name(s)}" if is_header(s) else s
        for s in sources
    ]
    return (
        names[0] + " has no value" if len(names) == 1 else f"none of {', '.join(names)} has a value"
    )


def error_detail(mapping: TopicMapping, reason: Column, max_future_skew: str) -> Column:
    """The detail of a reason for this mapping's records: names the field and its source."""
    time_text = F.col("_event_time_text")
    fields = hash_fields(mapping.event_id[0])
    if fields is not None:
        missing_id = F.concat(
            F.lit("event_id: content hash field(s) missing: "), missing_hash_fields(fields)
        )
    else:
        missing_id = F.lit(f"event_id: {_describe(mapping.event_id)}")
    time_format = TIME_FORMAT_NAMES.get(mapping.event_time_format, "ISO-8601")
    return (
        F.when(reason == INVALID_JSON, F.lit("value is not a JSON object"))
        .when(reason == INVALID_UTF8, F.lit("key or value is not valid UTF-8"))
        .when(reason == EMPTY_VALUE, F.lit("value is null or empty (tombstone?)"))
        .when(reason == MISSING_EVENT_ID, missing_id)
        .when(reason == MISSING_EVENT_TIME, F.lit(f"event_time: {_describe(mapping.event_time)}"))
        .when(
            reason == INVALID_EVENT_TIME,
            F.concat(F.lit(f"event_time is not {time_format}: "), time_text),
        )
        .when(
            reason == FUTURE_EVENT_TIME,
            F.concat(
                F.lit(f"event_time is more than {max_future_skew} ahead of the ingest clock: "),
                time_text,
            ),
        )
        .when(
            reason == INVALID_SEQUENCE,
            F.concat(F.lit("sequence is not an integer: "), F.col("_sequence_text")),
        )
        .when(reason == MISSING_KEY, F.lit(f"key: {_describe(mapping.key)}"))
        .otherwise(F.col("_format_detail"))
    )
