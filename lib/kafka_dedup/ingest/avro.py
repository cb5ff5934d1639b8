"""Spark columns that read an Avro record in the Confluent wire format into a VARIANT.

The wire format: byte 0 is the magic byte 0, bytes 1-4 the writer schema's id (big-endian),
the rest the Avro binary body. Each micro-batch collects the ids its Avro records carry, the
driver fetches those schemas (ingest.schemas), and every record is decoded with its own
writer's schema by spark-avro's from_avro, then held as a VARIANT like a parsed JSON record:
the [[ingest.mappings]] field paths read it the same way whatever the schema version, so a
field a later version added is simply missing from older records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from kafka_dedup.domain import INVALID_AVRO, UNKNOWN_SCHEMA_ID
from kafka_dedup.ingest.schemas import WriterSchema

HEADER_BYTES = 5
SCHEMA_ID = "_schema_id"  # the record's writer schema id, null when not in the wire format
# PERMISSIVE: a body that does not decode gives a row of nulls instead of failing the batch
AVRO_OPTIONS = {"mode": "PERMISSIVE"}
MESSAGE_CHARS = 200  # of a JVM error quoted in a quarantine detail
NOT_WIRE_FORMAT = "value is not in the Confluent wire format (magic byte 0, 4-byte schema id)"


def schema_id() -> Column:
    """The writer schema id of a record in the wire format, else null."""
    value = F.col("value")
    in_format = (F.length(value) >= HEADER_BYTES) & (F.expr("substr(value, 1, 1)") == F.lit(b"\0"))
    return F.when(in_format, F.conv(F.hex(F.expr("substr(value, 2, 4)")), 16, 10).cast("long"))


def _body() -> Column:
    return F.expr(f"substr(value, {HEADER_BYTES + 1})")


def _as_variant(schema: WriterSchema) -> Column:
    decoded = from_avro(_body(), schema.text, AVRO_OPTIONS)
    if schema.complex:
        return F.to_variant_object(decoded)
    return decoded.cast("variant")  # a top-level primitive or enum: that one value


def decoded(schemas: Mapping[int, WriterSchema]) -> Column:
    """The record as a VARIANT, decoded with its writer schema; null for every other record."""
    usable = {i: s for i, s in schemas.items() if s.usable}
    return _by_id(usable, _as_variant, F.lit(None).cast("variant"))


def _field_is_null(doc: Column, name: str) -> Column:
    path = "$['" + name.replace("'", "") + "']"
    value = F.call_function("try_variant_get", doc, F.lit(path), F.lit("variant"))
    return value.isNull() | F.call_function("is_variant_null", value)


def _undecoded(doc: Column, schema: WriterSchema) -> Column:
    """True when from_avro gave its PERMISSIVE row of nulls: a field that can never be null
    is null (or, with none such, every field is)."""
    if not schema.is_record:
        return doc.isNull()
    names = schema.required or schema.fields
    if not names:
        return F.lit(False)
    checks = [_field_is_null(doc, name) for name in names]
    combined = checks[0]
    for check in checks[1:]:
        combined = (combined | check) if schema.required else (combined & check)
    return doc.isNull() | combined


def _by_id(
    schemas: Mapping[int, WriterSchema],
    pick: Callable[[WriterSchema], Column],
    none: Column | None = None,
) -> Column:
    """pick(schema) for the record's schema id: CASE _schema_id WHEN id THEN ... END, or
    `none` (a null) when there is no schema."""
    items = list(schemas.values())
    if not items:
        return F.lit(None) if none is None else none
    ids = F.col(SCHEMA_ID)
    result = F.when(ids == items[0].schema_id, pick(items[0]))
    for schema in items[1:]:
        result = result.when(ids == schema.schema_id, pick(schema))
    return result


def format_error(doc: Column, schemas: Mapping[int, WriterSchema]) -> tuple[Column, Column]:
    """(reason, detail) for an Avro record that cannot be read, nulls for one that can."""

    def reason(schema: WriterSchema) -> Column:
        if schema.unknown:
            return F.lit(UNKNOWN_SCHEMA_ID)
        if not schema.usable:
            return F.lit(INVALID_AVRO)
        return F.when(_undecoded(doc, schema), F.lit(INVALID_AVRO))

    def detail(schema: WriterSchema) -> Column:
        if not schema.usable:
            return F.lit(schema.problem)
        return F.lit(f"the body does not decode with schema id {schema.schema_id}")

    ids = F.col(SCHEMA_ID)
    not_wire = ids.isNull()
    return (
        F.when(not_wire, F.lit(INVALID_AVRO)).otherwise(_by_id(schemas, reason)),
        F.when(not_wire, F.lit(NOT_WIRE_FORMAT)).otherwise(_by_id(schemas, detail)),
    )


def batch_schema_ids(records_df: DataFrame) -> list[int]:
    """The distinct writer schema ids among these Kafka records (those in the wire format)."""
    rows = records_df.select(schema_id().alias("id")).where(F.col("id").isNotNull()).distinct()
    return sorted(int(row.id) for row in rows.collect())


def spark_validator(spark: SparkSession) -> Callable[[str], str]:
    """A check, in the JVM that will decode, that Spark can read with a schema: '' when it
    can, else the parser's or converter's message (a recursive record, a bad default ...)."""
    jvm = spark._jvm
    assert jvm is not None, "a classic (not Spark Connect) session"

    def validate(text: str) -> str:
        try:
            parsed = jvm.org.apache.avro.Schema.Parser().parse(text)
            jvm.org.apache.spark.sql.avro.SchemaConverters.toSqlType(parsed)
        except Exception as exc:  # a Py4JJavaError: report the Java message only
            java = getattr(exc, "java_exception", None)
            message = java.getMessage() if java is not None else str(exc)
            # one line, without the schema Spark appends after ': {'
            words = " ".join(str(message or type(exc).__name__).split()).split(": {")[0]
            return f"Spark cannot read it as Avro ({words[:MESSAGE_CHARS]})"
        return ""

    return validate
