"""Ready queries `summary` and `top-keys`: shared SQL, identical on both engines."""

from __future__ import annotations

from kafka_dedup.domain import APPLICATION_RESEND, IDENTITY, MERGED_BY_RECONCILE, PRODUCER_RETRY
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.output import Report, Section
from kafka_dedup.forensics.views import (
    DELIVERY_COPIES,
    DUPLICATES,
    PER_EVENT,
    columns_sql,
    copy_number_sql,
    same_sql,
)

SUMMARY_COPIES = "summary_copies"
TOP_DUPLICATES = "top_duplicates"
DEFAULT_TOP = 10

# Only the columns summary groups by, so the window runs over narrow rows.
SUMMARY_COPIES_SQL = f"""
SELECT topic, `partition`, producer_id, date_trunc('hour', kafka_timestamp) AS hour,
       {copy_number_sql()} AS copy_number,
       count(*) OVER ({PER_EVENT}) AS copies,
       key, event_id
FROM deliveries
WHERE parse_error IS NULL"""

OVERALL_SQL = f"""
SELECT d.deliveries, d.malformed, c.valid, c.unique_events, c.duplicate_copies,
       CAST(100 * c.duplicate_copies AS DOUBLE) / nullif(c.valid, 0) AS duplicate_pct,
       c.events_with_duplicates, c.max_copies
FROM (SELECT count(*) AS deliveries, count(parse_error) AS malformed FROM deliveries) AS d
CROSS JOIN (
  SELECT count(*) AS valid,
         count(CASE WHEN copy_number = 1 THEN 1 END) AS unique_events,
         count(CASE WHEN copy_number > 1 THEN 1 END) AS duplicate_copies,
         count(CASE WHEN copy_number = 2 THEN 1 END) AS events_with_duplicates,
         max(copies) AS max_copies
  FROM {SUMMARY_COPIES}) AS c"""

QUARANTINE_SQL = """
SELECT reason, count(*) AS records,
       min(kafka_timestamp) AS first_at, max(kafka_timestamp) AS last_at
FROM quarantine
GROUP BY reason
ORDER BY records DESC, reason"""

LATE_SQL = f"""
SELECT (SELECT CAST(coalesce(sum(late_rows), 0) AS BIGINT) FROM ingest_batches)
         AS late_rows_counted_by_ingest,
       (SELECT count(*)
        FROM {SUMMARY_COPIES} AS c
        LEFT JOIN events AS e ON e.key = c.key AND e.event_id = c.event_id
        WHERE c.copy_number = 1 AND e.event_id IS NULL) AS valid_events_not_in_events,
       (SELECT count(*) FROM events WHERE merged_by = '{MERGED_BY_RECONCILE}')
         AS events_merged_by_reconcile"""


# Valid deliveries not kept in events: by likely cause, and those of events not merged yet.
NOT_YET_MERGED = "late: not yet in events (nightly run merges it)"
REMOVED_BY_CAUSE_SQL = f"""
SELECT CASE WHEN e.event_id IS NULL THEN '{NOT_YET_MERGED}' ELSE c.likely_cause END AS cause,
       count(*) AS copies
FROM {DELIVERY_COPIES} AS c
LEFT JOIN (SELECT DISTINCT {columns_sql(IDENTITY)} FROM events) AS e
  ON {same_sql("e", "c", IDENTITY)}
WHERE c.copy_number > 1 OR e.event_id IS NULL
GROUP BY 1
ORDER BY 1"""


def removed_by_cause(engine: Engine) -> dict[str, int]:
    """Copies the dedup removed, by likely cause; copies of events not merged yet apart."""
    return {cause: copies for cause, copies in engine.run(REMOVED_BY_CAUSE_SQL).rows()}


def _rate_by(columns: list[str]) -> str:
    """Valid deliveries and duplicate copies per group, with the duplicate percentage."""
    group = ", ".join(columns)
    order = ", ".join(f"{c} ASC NULLS FIRST" for c in columns)
    duplicates = "count(CASE WHEN copy_number > 1 THEN 1 END)"
    return f"""
SELECT {group}, count(*) AS valid_deliveries, {duplicates} AS duplicate_copies,
       CAST(100 * {duplicates} AS DOUBLE) / count(*) AS duplicate_pct
FROM {SUMMARY_COPIES}
GROUP BY {group}
ORDER BY {order}"""


SUMMARY_SECTIONS = (
    ("overall", "duplicates overall", OVERALL_SQL),
    ("by_topic", "duplicates by topic", _rate_by(["topic"])),
    ("by_partition", "duplicates by partition", _rate_by(["topic", "`partition`"])),
    ("by_producer", "duplicates by producer", _rate_by(["producer_id"])),
    ("by_hour", "duplicates by hour (Kafka timestamp, UTC)", _rate_by(["hour"])),
    ("quarantine", "quarantine by reason", QUARANTINE_SQL),
    ("late", "late rows", LATE_SQL),
)


def summary(engine: Engine, limit: int | None = None) -> Report:
    """Duplicate rate overall and by topic, partition, producer and hour; quarantine; late rows."""
    engine.materialize(SUMMARY_COPIES, SUMMARY_COPIES_SQL)
    sections = [
        Section(name, title, engine.run(sql, limit=limit)) for name, title, sql in SUMMARY_SECTIONS
    ]
    return Report(sections, engine.notes())


def top_keys(engine: Engine, top: int = DEFAULT_TOP) -> Report:
    """The keys and the producers with the most duplicate copies."""
    # only the columns both sections read: the view also carries payloads and raw values
    engine.materialize(
        TOP_DUPLICATES,
        f"SELECT key, event_id, copies, copy_number, producer_id, kafka_timestamp, likely_cause "
        f"FROM {DUPLICATES}",
    )
    keys_sql = f"""
SELECT key, count(DISTINCT event_id) AS duplicated_events,
       count(*) - count(DISTINCT event_id) AS extra_copies,
       max(copies) AS max_copies, count(DISTINCT producer_id) AS producers,
       min(kafka_timestamp) AS first_copy_at, max(kafka_timestamp) AS last_copy_at
FROM {TOP_DUPLICATES}
GROUP BY key
ORDER BY extra_copies DESC, key
LIMIT {int(top)}"""
    producers_sql = f"""
SELECT producer_id, count(*) AS duplicate_copies, count(DISTINCT key) AS keys,
       count(CASE WHEN likely_cause = '{PRODUCER_RETRY}' THEN 1 END) AS producer_retries,
       count(CASE WHEN likely_cause = '{APPLICATION_RESEND}' THEN 1 END) AS application_resends
FROM {TOP_DUPLICATES}
WHERE copy_number > 1
GROUP BY producer_id
ORDER BY duplicate_copies DESC, producer_id ASC NULLS FIRST
LIMIT {int(top)}"""
    sections = [
        Section("keys", f"top {top} keys by extra copies", engine.run(keys_sql)),
        Section("producers", f"top {top} producers of duplicate copies", engine.run(producers_sql)),
    ]
    return Report(sections, engine.notes())
