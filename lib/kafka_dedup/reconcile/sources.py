"""Side-effect readers (any Spark source) and their normalisation to one effect shape."""

from __future__ import annotations

import os
from datetime import datetime

from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from kafka_dedup.errors import UserError
from kafka_dedup.reconcile.settings import Source

JDBC_DRIVERS = {"jdbc:postgresql:": "org.postgresql.Driver", "jdbc:sqlite:": "org.sqlite.JDBC"}
FILE_DEFAULTS = {"csv": {"header": "true"}}
TIME_TYPES = (T.TimestampType, T.TimestampNTZType, T.DateType, T.StringType)

# Stable reasons for side-effect rows that cannot be classified.
MISSING_EVENT_ID = "missing_event_id"
MISSING_EFFECT_TIME = "missing_effect_time"
INVALID_EFFECT_TIME = "invalid_effect_time"


class SourceError(UserError):
    """A side-effect source cannot be read or lacks a configured column."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def read_source(spark: SparkSession, source: Source) -> DataFrame:
    """The source's rows as Spark reads them; unreadable sources raise SourceError."""
    try:
        if source.format == "jdbc":
            return _read_jdbc(spark, source)
        options = {**FILE_DEFAULTS.get(source.format, {}), **source.options}
        raw_df = spark.read.format(source.format).options(**options).load(source.path)
        raw_df.schema  # noqa: B018 - resolving the schema surfaces a missing path now
        return raw_df
    except (PySparkException, OSError) as exc:
        raise SourceError(
            f"source {source.name}: cannot read {source.format} at {source.location()}: "
            f"{_first_line(exc)}"
        ) from None


def _read_jdbc(spark: SparkSession, source: Source) -> DataFrame:
    options = {"url": source.url, **source.options}
    driver = next((d for prefix, d in JDBC_DRIVERS.items() if source.url.startswith(prefix)), None)
    if driver and "driver" not in options:
        options["driver"] = driver
    if source.table:
        options["dbtable"] = source.table
    else:
        options["query"] = source.query
    if source.user:
        options["user"] = source.user
    password = os.environ.get(source.password_env, "") if source.password_env else source.password
    if password:
        options["password"] = password
    return spark.read.format("jdbc").options(**options).load()


def check_columns(raw_df: DataFrame, source: Source) -> None:
    """Fail before any write when a configured column is absent or of an unusable type."""
    fields = {f.name.lower(): f for f in raw_df.schema.fields}
    wanted = [
        ("event_id_column", source.event_id_column),
        ("key_column", source.key_column),
        ("effect_id_column", source.effect_id_column),
        ("effect_time_column", source.effect_time_column),
        *((f"compare.{event_field}", column) for event_field, column in source.compare),
    ]
    for setting, column in wanted:
        if column and column.lower() not in fields:
            available = ", ".join(raw_df.columns) or "none"
            raise SourceError(
                f"source {source.name}: {setting} = {column!r} is not a column of "
                f"{source.location()}; columns: {available}"
            )
    if source.effect_time_column:
        time_type = fields[source.effect_time_column.lower()].dataType
        if not isinstance(time_type, TIME_TYPES):
            raise SourceError(
                f"source {source.name}: effect_time_column {source.effect_time_column!r} is "
                f"{time_type.simpleString()}; expected a timestamp, a date or ISO-8601 text"
            )


def _text(column: Column) -> Column:
    """Any value as trimmed text, null when blank."""
    text = F.trim(column.cast("string"))
    return F.when(text != "", text)


def _effect_time(raw_df: DataFrame, column: str) -> Column:
    data_type = raw_df.schema[column].dataType
    if isinstance(data_type, T.StringType):
        return F.trim(F.col(column)).try_cast("timestamp")
    return F.col(column).cast("timestamp")


def normalize_effects(raw_df: DataFrame, source: Source) -> DataFrame:
    """Effects as (event_id, key, effect_id, effect_time, values[], malformed, row_json)."""
    event_id = _text(F.col(source.event_id_column))
    if source.effect_id_column:
        effect_id = _text(F.col(source.effect_id_column))
    else:  # no id column: a content hash, stable across runs
        effect_id = F.substring(F.sha2(F.to_json(F.struct(*raw_df.columns)), 256), 1, 16)
    raw_time = _text(F.col(source.effect_time_column)) if source.effect_time_column else None
    effect_time = (
        _effect_time(raw_df, source.effect_time_column)
        if source.effect_time_column
        else F.lit(None).cast("timestamp")
    )
    malformed = F.when(event_id.isNull(), F.lit(MISSING_EVENT_ID))
    if raw_time is not None:
        malformed = malformed.when(raw_time.isNull(), F.lit(MISSING_EFFECT_TIME)).when(
            effect_time.isNull(), F.lit(INVALID_EFFECT_TIME)
        )
    values = [_text(F.col(column)) for _, column in source.comparisons()]
    return raw_df.select(
        event_id.alias("event_id"),
        (
            _text(F.col(source.key_column)) if source.key_column else F.lit(None).cast("string")
        ).alias("key"),
        F.coalesce(effect_id, F.lit("")).alias("effect_id"),
        effect_time.alias("effect_time"),
        F.array(*values).cast("array<string>").alias("values"),
        malformed.alias("malformed"),
        F.to_json(F.struct(*raw_df.columns)).alias("row_json"),
    )


def filter_effects_window(effects_df: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """Valid effects whose effect_time lies in [start, end); undated sources pass whole."""
    valid_df = effects_df.where(F.col("malformed").isNull())
    dated = F.col("effect_time").isNotNull()
    in_window = (F.col("effect_time") >= F.lit(start)) & (F.col("effect_time") < F.lit(end))
    return valid_df.where(~dated | in_window)
