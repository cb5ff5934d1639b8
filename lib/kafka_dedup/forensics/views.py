"""The SQL views every engine defines: `delivery_copies` and `duplicates`.

Written in the common subset of Spark SQL and DuckDB (backticks, `unix_millis`, named windows,
explicit NULLS FIRST), so the same text runs on both and gives the same rows.
"""

from __future__ import annotations

DELIVERY_COPIES = "delivery_copies"
DUPLICATES = "duplicates"

# The order the ingest uses to pick the first-seen copy (kafka_dedup.ingest.merge).
COPY_ORDER = "kafka_timestamp ASC NULLS FIRST, topic, `partition`, `offset`"

FIRST_COPY = "first copy"
PRODUCER_RETRY = "producer retry"
APPLICATION_RESEND = "application resend"
OFFSET_REREAD = "same offset read again: impossible here, deliveries keeps each offset once"

# Envelope fields compared with the first copy: all equal means the producer sent the same
# message again; any difference means the application built and sent it again.
COMPARED_FIELDS = ("producer_id", "event_type", "event_time", "sequence", "payload")


def _differences() -> str:
    checks = ",\n      ".join(
        f"CASE WHEN {f} IS DISTINCT FROM first_{f} THEN '{f}' END" for f in COMPARED_FIELDS
    )
    return f"concat_ws(', ',\n      {checks})"


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
         count(*) OVER (PARTITION BY key, event_id) AS copies,
         count(*) OVER (PARTITION BY topic, `partition`, `offset`) AS reads_of_offset,
         {firsts}
  FROM deliveries
  WHERE parse_error IS NULL AND ({where})
  WINDOW first_seen AS (PARTITION BY key, event_id ORDER BY {COPY_ORDER})
),
compared AS (
  SELECT numbered.*, {_differences()} AS differences
  FROM numbered
)
SELECT key, event_id, copy_number, copies, topic, `partition`, `offset`, kafka_timestamp,
       unix_millis(kafka_timestamp) - unix_millis(first_kafka_timestamp) AS gap_ms,
       CASE WHEN copy_number > 1 AND reads_of_offset > 1 THEN '{OFFSET_REREAD}'
            WHEN copy_number = 1 THEN '{FIRST_COPY}'
            WHEN differences = '' THEN '{PRODUCER_RETRY}'
            ELSE '{APPLICATION_RESEND}' END AS likely_cause,
       nullif(differences, '') AS differs_from_first,
       producer_id, event_type, event_time, sequence, ingested_at, payload
FROM compared"""


VIEWS: dict[str, str] = {
    DELIVERY_COPIES: copies_sql(),
    DUPLICATES: f"SELECT * FROM {DELIVERY_COPIES} WHERE copies > 1",
}
