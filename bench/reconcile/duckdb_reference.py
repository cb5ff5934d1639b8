"""The same classification in DuckDB over the same Parquet files: the single-node reference.

It reads the Delta tables' data files as plain Parquet (the generated tables have no deleted
files), applies the same time model as the Spark job (events judged on their day, each charge on the
day it happened, identity (key, event_id), grace and tolerance), materialises the findings of
each class into tables and counts them. It writes nothing back.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

TOLERANCE = 0.005
LOOKBACK = timedelta(days=1)
LATE_LOOKBACK = timedelta(days=7)
GRACE = timedelta(hours=1)

# The tables as plain Parquet: the generated tables have no removed files.
PARQUET_VIEWS = """
CREATE VIEW deliveries AS SELECT * FROM read_parquet('{warehouse}/deliveries/*.parquet');
CREATE VIEW events AS SELECT * FROM read_parquet('{warehouse}/events/*/*.parquet',
                                                 hive_partitioning = true);
"""

# Valid deliveries of the late_lookback window absent from events.
UNMERGED = """
CREATE TABLE unmerged AS
SELECT d.key, d.event_id, min(d.event_type) AS event_type, min(d.event_time) AS event_time,
       min(d.payload) AS payload, count(*) AS copies
FROM deliveries d ANTI JOIN events e ON d.key = e.key AND d.event_id = e.event_id
WHERE d.parse_error IS NULL AND d.event_time >= TIMESTAMPTZ '{late_start}'
  AND d.event_time < TIMESTAMPTZ '{day_end}'
GROUP BY d.key, d.event_id;
"""

# The classification, given views `events`, `unmerged` and `charges`.
CLASSIFY = """
CREATE VIEW log AS
SELECT key, event_id, event_type, event_time, payload FROM events
UNION ALL SELECT key, event_id, event_type, event_time, payload FROM unmerged;

CREATE TABLE window_events AS SELECT * FROM log
WHERE event_time >= TIMESTAMPTZ '{window_start}' AND event_time < TIMESTAMPTZ '{window_end}';
CREATE TABLE window_charges AS SELECT * FROM charges
WHERE event_id IS NOT NULL AND charged_at >= TIMESTAMPTZ '{charges_start}'
  AND charged_at < TIMESTAMPTZ '{window_end}' AND charged_at <= TIMESTAMPTZ '{as_of}';

-- events of the day without any charge anywhere (as of the run): MISSING
CREATE TABLE missing AS
SELECT e.key, e.event_id FROM log e
ANTI JOIN charges c ON c.order_id = e.key AND c.event_id = e.event_id
  AND c.charged_at <= TIMESTAMPTZ '{as_of}'
WHERE e.event_time >= TIMESTAMPTZ '{day_start}' AND e.event_time < TIMESTAMPTZ '{day_end}'
  AND e.event_type = 'order.paid'
  AND e.event_time + INTERVAL '{grace_s} seconds' <= TIMESTAMPTZ '{as_of}';
-- a charge of the day beyond the first of its event (whatever the event's day): DUPLICATE
CREATE TABLE ranked AS
SELECT c.*, row_number() OVER (PARTITION BY c.order_id, c.event_id
                               ORDER BY c.charged_at, c.charge_id) AS n
FROM window_charges c SEMI JOIN window_events e ON e.key = c.order_id AND e.event_id = c.event_id;
CREATE TABLE duplicate AS
SELECT order_id, event_id FROM ranked
WHERE n > 1 AND charged_at >= TIMESTAMPTZ '{day_start}' AND charged_at < TIMESTAMPTZ '{day_end}'
GROUP BY ALL;
CREATE TABLE mismatch AS
SELECT e.event_id, c.charge_id, 'payload.amount' AS field
FROM window_events e JOIN window_charges c ON e.key = c.order_id AND e.event_id = c.event_id
WHERE c.charged_at >= TIMESTAMPTZ '{day_start}' AND c.charged_at < TIMESTAMPTZ '{day_end}'
  AND abs(CAST(json_extract_string(e.payload, '$.amount') AS DOUBLE) - c.amount) > {tolerance};
CREATE TABLE orphan AS
SELECT c.order_id, c.event_id FROM window_charges c
ANTI JOIN log e ON e.key = c.order_id AND e.event_id = c.event_id
WHERE c.charged_at >= TIMESTAMPTZ '{day_start}' AND c.charged_at < TIMESTAMPTZ '{day_end}'
GROUP BY ALL;
"""


CLASSES = ("missing", "duplicate", "orphan", "mismatch", "unmerged")


def values_of(day_start: datetime) -> dict[str, object]:
    """The run's parameters as the SQL above names them."""
    day_end = day_start + timedelta(days=1)
    as_of = day_end + timedelta(days=1)
    return {
        "tolerance": TOLERANCE,
        "day_start": day_start.isoformat(),
        "day_end": day_end.isoformat(),
        "window_start": (day_start - LOOKBACK).isoformat(),
        "charges_start": (day_start - 2 * LOOKBACK).isoformat(),
        "window_end": (day_end + LOOKBACK).isoformat(),
        "late_start": (day_start - LATE_LOOKBACK).isoformat(),
        "grace_s": int(GRACE.total_seconds()),
        "as_of": as_of.isoformat(),
    }


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute(f"SET threads = {threads}; SET TimeZone = 'UTC';")
    return conn


def view_charges(conn: duckdb.DuckDBPyConnection, charges: Path) -> None:
    conn.execute(f"CREATE VIEW charges AS SELECT * FROM read_parquet('{charges}/*.parquet')")


def counts_of(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The count of findings per class, from the tables CLASSIFY made."""
    counts = {}
    for kind in CLASSES:
        row = conn.execute(f"SELECT count(*) FROM {kind}").fetchone()
        counts[kind.upper()] = int(row[0]) if row else 0
    return counts


def classify(warehouse: Path, charges: Path, day_start: datetime, threads: int) -> dict[str, int]:
    """Run the classification; returns the count of findings per class."""
    values = values_of(day_start)
    conn = connect(threads)
    conn.execute(PARQUET_VIEWS.format(warehouse=warehouse))
    view_charges(conn, charges)
    conn.execute((UNMERGED + CLASSIFY).format(**values))
    counts = counts_of(conn)
    conn.close()
    return counts


if __name__ == "__main__":  # a quick manual check: python duckdb_reference.py FOLDER
    import sys

    folder = Path(sys.argv[1])
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    print(classify(folder / "warehouse", folder / "charges", start, threads=2))
