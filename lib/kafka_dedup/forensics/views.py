"""The SQL views every engine defines: `delivery_copies` and `duplicates`.

Rendered from kafka_dedup.domain (identity, first-seen order, duplicate causes, compared
fields) in the common subset of Spark SQL and DuckDB (backticks, `unix_millis`, named
windows, explicit NULLS FIRST), so the same text runs on both and gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka_dedup.domain import (
    APPLICATION_RESEND,
    COMPARED_FIELDS,
    COORDINATES,
    FIRST_COPY,
    IDENTITY,
    OFFSET_REREAD,
    PRODUCER_RETRY,
    first_seen_order_sql,
)

DELIVERY_COPIES = "delivery_copies"
DUPLICATES = "duplicates"


def columns_sql(names: Iterable[str]) -> str:
    """A column list with every name quoted (`partition` and `offset` are keywords)."""
    return ", ".join(f"`{name}`" for name in names)


def same_sql(left: str, right: str, names: Iterable[str]) -> str:
    """A join condition: `left` and `right` agree on every column named."""
    return " AND ".join(f"{left}.`{name}` = {right}.`{name}`" for name in names)


# The copies of one event, and the reads of one Kafka offset.
PER_EVENT = f"PARTITION BY {columns_sql(IDENTITY)}"
PER_OFFSET = f"PARTITION BY {columns_sql(COORDINATES)}"
# Copy 1 is the copy the ingest keeps in events.
FIRST_SEEN_WINDOW = f"({PER_EVENT} ORDER BY {first_seen_order_sql()})"


def copy_number_sql() -> str:
    """The copy's rank among its event's copies, as the ingest orders them."""
    return f"row_number() OVER {FIRST_SEEN_WINDOW}"


def _differences() -> str:
    checks = ",\n      ".join(
        f"CASE WHEN {f} IS DISTINCT FROM first_{f} THEN '{f}' END" for f in COMPARED_FIELDS
    )
    return f"concat_ws(', ',\n      {checks})"


def _likely_cause() -> str:
    """The cause of a copy, from the tables alone (see kafka_dedup.domain)."""
    return f"""CASE WHEN copy_number > 1 AND reads_of_offset > 1 THEN '{OFFSET_REREAD}'
            WHEN copy_number = 1 THEN '{FIRST_COPY}'
            WHEN differences = '' THEN '{PRODUCER_RETRY}'
            ELSE '{APPLICATION_RESEND}' END"""


def copies_sql(where: str = "TRUE") -> str:
    """Every valid delivery matching `where`, with its copy number, gap and likely cause.

    `where` must keep whole (key, event_id) groups (filter on key or event_id), or copy
    numbers would be counted within a part of a group.
    """
    firsts = ",\n         ".join(
        f"first_value({f}) OVER first_seen AS first_{f}"
        for f in ("kafka_timestamp", *COMPARED_FIELDS)
    )
    return f"""
WITH numbered AS (
  SELECT topic, `partition`, `offset`, kafka_timestamp, key, event_id, event_type, event_time,
         sequence, producer_id, payload, ingested_at,
         row_number() OVER first_seen AS copy_number,
         count(*) OVER ({PER_EVENT}) AS copies,
         count(*) OVER ({PER_OFFSET}) AS reads_of_offset,
         {firsts}
  FROM deliveries
  WHERE parse_error IS NULL AND ({where})
  WINDOW first_seen AS {FIRST_SEEN_WINDOW}
),
compared AS (
  SELECT numbered.*, {_differences()} AS differences
  FROM numbered
)
SELECT key, event_id, copy_number, copies, topic, `partition`, `offset`, kafka_timestamp,
       unix_millis(kafka_timestamp) - unix_millis(first_kafka_timestamp) AS gap_ms,
       {_likely_cause()} AS likely_cause,
       nullif(differences, '') AS differs_from_first,
       producer_id, event_type, event_time, sequence, ingested_at, payload
FROM compared"""


VIEWS: dict[str, str] = {
    DELIVERY_COPIES: copies_sql(),
    DUPLICATES: f"SELECT * FROM {DELIVERY_COPIES} WHERE copies > 1",
}
