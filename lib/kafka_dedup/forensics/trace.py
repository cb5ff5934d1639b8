"""Ready query `trace`: the whole story of one event or one key, in time order."""

from __future__ import annotations

from typing import Any

from kafka_dedup import tables
from kafka_dedup.domain import COORDINATES, IDENTITY, first_seen_order_sql
from kafka_dedup.errors import UserError
from kafka_dedup.forensics.engine import STATE_VERSIONS, Engine
from kafka_dedup.forensics.output import Report, Section
from kafka_dedup.forensics.views import columns_sql, copies_sql, same_sql

DEFAULT_MAX_VERSIONS = 100
# A delivery is the copy events kept when both its event and its coordinates match.
KEPT_COPY = (*IDENTITY, *COORDINATES)
# Simple filters, so both engines push them into the Parquet scan instead of reading every
# column of every delivery; a malformed record's key is only in raw_key.
EVENT_DELIVERIES = "SELECT * FROM deliveries WHERE event_id = :event_id"
KEY_DELIVERIES = """SELECT * FROM deliveries WHERE key = :key
  UNION ALL
  SELECT * FROM deliveries WHERE key IS NULL AND raw_key = :key_bytes"""

# Output columns in time order: the order in which the ingest sees copies.
DELIVERIES_SQL = f"""
WITH copies AS ({{copies}})
SELECT d.kafka_timestamp, d.topic, d.`partition`, d.`offset`, d.key, d.event_id,
       c.copy_number, c.copies, c.gap_ms, c.likely_cause, c.differs_from_first,
       e.key IS NOT NULL AS kept_in_events,
       d.producer_id, d.event_type, d.event_time, d.sequence, d.parse_error, d.ingested_at,
       d.payload
FROM ({{deliveries}}) AS d
LEFT JOIN copies AS c ON {same_sql("c", "d", COORDINATES)}
LEFT JOIN (SELECT {columns_sql(KEPT_COPY)} FROM events WHERE {{match}}) AS e
  ON {same_sql("e", "d", KEPT_COPY)}
ORDER BY {first_seen_order_sql()}"""

EVENTS_SQL = """
SELECT event_time, key, event_id, event_type, sequence, producer_id,
       topic, `partition`, `offset`, kafka_timestamp, ingested_at, merged_by, payload
FROM events
WHERE {where}
ORDER BY event_time, key, event_id"""

STATE_COLUMNS = (
    "key, event_id, event_type, sequence, event_time, producer_id, "
    "topic, `partition`, `offset`, updated_at, payload"
)
# One row per distinct state the key went through: the version that wrote it, and the last
# version read that still held it.
STATE_SQL = f"""
SELECT min(version) AS from_version, max(version) AS until_version,
       min(committed_at) AS committed_at, min_by(operation, version) AS operation,
       {STATE_COLUMNS}
FROM {STATE_VERSIONS}
GROUP BY {STATE_COLUMNS}
ORDER BY from_version, key"""

FINDINGS_SQL = """
SELECT run_date, source, finding_type, event_id, key, detail
FROM reconciliation_findings
WHERE {where}
ORDER BY run_date, source, finding_type, key, event_id"""

QUARANTINE_SQL = f"""
SELECT kafka_timestamp, topic, `partition`, `offset`, reason, detail, quarantined_at
FROM quarantine
WHERE raw_key = :key_bytes
ORDER BY {first_seen_order_sql()}"""

EVENT_KEYS_SQL = """
SELECT DISTINCT key FROM (
  SELECT key FROM deliveries WHERE event_id = :event_id
  UNION ALL
  SELECT key FROM events WHERE event_id = :event_id) AS k
WHERE key IS NOT NULL
ORDER BY key"""


class TraceError(UserError):
    """trace needs exactly one of --event-id and --key."""


def _keys_of_event(engine: Engine, event_id: str) -> list[str]:
    result = engine.run(EVENT_KEYS_SQL, {"event_id": event_id})
    return [row[0] for row in result.rows()]


def trace(
    engine: Engine,
    event_id: str | None = None,
    key: str | None = None,
    max_versions: int = DEFAULT_MAX_VERSIONS,
    limit: int | None = None,
) -> Report:
    """Deliveries, the row kept in events, entity_state versions, findings (and quarantine)."""
    if (event_id is None) == (key is None):
        raise TraceError("trace needs exactly one of --event-id ID and --key KEY")
    params: dict[str, Any]
    if event_id is not None:
        subject, params, column = f"event_id {event_id}", {"event_id": event_id}, "event_id"
        keys = _keys_of_event(engine, event_id)
        deliveries = EVENT_DELIVERIES
    else:
        assert key is not None
        subject, params, column = f"key {key}", {"key": key, "key_bytes": key.encode()}, "key"
        keys = [key]
        deliveries = KEY_DELIVERIES
    match = f"{column} = :{column}"
    deliveries_sql = DELIVERIES_SQL.format(
        copies=copies_sql(match), deliveries=deliveries, match=match
    )
    notes = engine.notes() + engine.state_versions(keys, max_versions)
    sections = [
        Section(
            "deliveries", f"deliveries of {subject}", engine.run(deliveries_sql, params, limit)
        ),
        Section("events", "row kept in events", engine.run(EVENTS_SQL.format(where=match), params)),
        Section(
            "entity_state",
            f"entity_state versions of {_plural_keys(keys)}",
            engine.run(STATE_SQL, limit=limit),
        ),
        Section(
            "findings",
            "reconciliation findings",
            engine.run(FINDINGS_SQL.format(where=match), params, limit),
        ),
    ]
    if key is not None:
        sections.append(
            Section(
                "quarantine",
                "quarantined records with this key",
                engine.run(QUARANTINE_SQL, params, limit),
            )
        )
    if not sections[0].result.table.num_rows:
        notes.append(f"no delivery carries {subject}")
    if tables.RECONCILIATION_FINDINGS in engine.absent:
        notes.append("no reconciliation has run on this warehouse yet: no findings to show")
    return Report(sections, notes)


def _plural_keys(keys: list[str]) -> str:
    if not keys:
        return "its key (none found)"
    return ("key " if len(keys) == 1 else "keys ") + ", ".join(keys)
