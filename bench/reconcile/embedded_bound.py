"""The bound of an embedded engine: the bench's reconcile work end to end in one process,
DuckDB reading and classifying, deltalake writing, no JVM.

Not a reconcile engine: its classification is duckdb_reference's (the bench's one source and
rule, counts only). What it adds is the rest of what the Spark run spends time on at this
size: reading the Delta tables through their logs (deletion vectors honoured, as forensics
does), finding the UNMERGED deliveries, MERGEing their first copies into `events` (insert
only) and `entity_state` (newer versions only), and writing the findings as a Delta table.
Its wall time, interpreter start and imports included, is the least an embedded engine
could take for this input on this machine.

    python embedded_bound.py WAREHOUSE CHARGES DAY   (the warehouse is modified: use a copy)
Prints one JSON object: seconds per step and the count of findings per class.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before the imports: they are part of what a user waits for

import json  # noqa: E402
import sys  # noqa: E402
from datetime import date, datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import duckdb  # noqa: E402
import duckdb_reference as reference  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from deltalake import DeltaTable, write_deltalake  # noqa: E402

from kafka_dedup.domain import MERGED_BY_RECONCILE, first_seen_order_sql  # noqa: E402
from kafka_dedup.forensics.parquet_source import parquet_source  # noqa: E402

MIN_LONG = -(2**63)  # eventlog.MIN_LONG; not imported: eventlog would load pyspark

# The first-seen copy of each UNMERGED event, shaped as an `events` row.
UNMERGED_EVENTS = f"""
CREATE TABLE unmerged_events AS
SELECT key, event_id, event_type, event_time, CAST(event_time AS DATE) AS event_date, sequence,
       producer_id, payload, topic, "partition", "offset", kafka_timestamp,
       now() AS ingested_at, '{MERGED_BY_RECONCILE}' AS merged_by
FROM (SELECT d.*, row_number() OVER (PARTITION BY d.key, d.event_id
                                     ORDER BY {first_seen_order_sql().replace("`", '"')}) AS copy
      FROM deliveries d SEMI JOIN unmerged u ON d.key = u.key AND d.event_id = u.event_id
      WHERE d.parse_error IS NULL AND d.event_time >= TIMESTAMPTZ '{{late_start}}'
        AND d.event_time < TIMESTAMPTZ '{{day_end}}')
WHERE copy = 1
"""

# The newest version per key among them, shaped as an `entity_state` row.
LATEST_PER_KEY = f"""
SELECT key, event_id, event_type, event_time, sequence, producer_id, payload, topic,
       "partition", "offset", now() AS updated_at
FROM unmerged_events
QUALIFY row_number() OVER (PARTITION BY key ORDER BY coalesce(sequence, {MIN_LONG}) DESC,
                           event_time DESC, event_id DESC) = 1
"""

NEWER = (
    f"coalesce(s.sequence, {MIN_LONG}) > coalesce(t.sequence, {MIN_LONG}) OR "
    f"(coalesce(s.sequence, {MIN_LONG}) = coalesce(t.sequence, {MIN_LONG}) "
    "AND s.event_time > t.event_time)"
)

# One findings row per finding, in the columns of reconciliation_findings.
FINDINGS = """
SELECT DATE '{day}' AS run_date, 'payments' AS source, kind AS finding_type, event_id, key,
       CAST(NULL AS VARCHAR) AS event_type, CAST(NULL AS TIMESTAMPTZ) AS event_time,
       CAST(NULL AS INTEGER) AS effect_count, CAST([] AS VARCHAR[]) AS effect_ids,
       field, CAST(NULL AS VARCHAR) AS expected, CAST(NULL AS VARCHAR) AS actual,
       'none' AS action, kind || ' ' || event_id AS detail,
       CAST(NULL AS TIMESTAMPTZ) AS finding_time, false AS partial
FROM (SELECT 'MISSING' AS kind, event_id, key, NULL AS field FROM missing
      UNION ALL SELECT 'DUPLICATE', event_id, order_id, NULL FROM duplicate
      UNION ALL SELECT 'ORPHAN', event_id, order_id, NULL FROM orphan
      UNION ALL SELECT 'MISMATCH', event_id, NULL, field FROM mismatch
      UNION ALL SELECT 'UNMERGED', event_id, key, NULL FROM unmerged)
"""


def arrow(conn: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The rows of a query as an Arrow table."""
    table = conn.sql(sql).to_arrow_table()
    assert table is not None, sql
    return table


def view_delta(conn: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """A view of the table's current version, rows removed by deletion vectors left out."""
    source = parquet_source(DeltaTable(str(path)), f"{name}_deleted")
    if source is None:
        sys.exit(f"{path}: DuckDB cannot read this table's files directly")
    if source.deleted is not None:
        conn.register(f"{name}_deleted", source.deleted)
    conn.execute(f"CREATE VIEW {name} AS {source.sql}")


def merge_unmerged(conn: duckdb.DuckDBPyConnection, warehouse: Path) -> dict[str, int]:
    """The UNMERGED events into events (insert only) and entity_state (newer versions)."""
    events_rows = arrow(conn, "SELECT * FROM unmerged_events")
    if events_rows.num_rows == 0:
        return {"events_inserted": 0, "state_changed": 0}
    dates = pc.unique(events_rows.column("event_date")).to_pylist()
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in dates)
    events = DeltaTable(str(warehouse / "events"))
    inserted = (
        events.merge(
            events_rows,
            f"t.event_date IN ({listed}) AND t.event_date = s.event_date "
            "AND t.key = s.key AND t.event_id = s.event_id",
            source_alias="s",
            target_alias="t",
        )
        .when_not_matched_insert_all()
        .execute()
    )
    state = DeltaTable(str(warehouse / "entity_state"))
    changed = (
        state.merge(
            arrow(conn, LATEST_PER_KEY),
            "t.key = s.key",
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all(predicate=NEWER)
        .when_not_matched_insert_all()
        .execute()
    )
    return {
        "events_inserted": inserted["num_target_rows_inserted"],
        "state_changed": changed["num_target_rows_inserted"] + changed["num_target_rows_updated"],
    }


def main() -> None:
    warehouse, charges, day = Path(sys.argv[1]), Path(sys.argv[2]), date.fromisoformat(sys.argv[3])
    values = reference.values_of(datetime.combine(day, datetime.min.time(), timezone.utc))
    steps: dict[str, float] = {"imports": round(time.monotonic() - STARTED, 1)}

    def step(name: str, since: float) -> float:
        now = time.monotonic()
        steps[name] = round(now - since, 1)
        return now

    at = time.monotonic()
    conn = reference.connect(threads=2)
    for name in ("deliveries", "events"):
        view_delta(conn, name, warehouse / name)
    reference.view_charges(conn, charges)
    at = step("reading the Delta logs", at)
    conn.execute(reference.UNMERGED.format(**values))
    at = step("UNMERGED: valid deliveries absent from events", at)
    conn.execute(UNMERGED_EVENTS.format(**values))
    merged = merge_unmerged(conn, warehouse)
    at = step("MERGE of the UNMERGED events into events and entity_state (deltalake)", at)
    conn.execute(reference.CLASSIFY.format(**values))
    at = step("classification", at)
    findings = arrow(conn, FINDINGS.format(day=day.isoformat()))
    write_deltalake(
        str(warehouse / "reconciliation_findings"),
        findings,
        mode="overwrite",
        partition_by=["run_date"],
        predicate=f"run_date = '{day.isoformat()}'",
    )
    step("writing reconciliation_findings (deltalake)", at)
    counts = reference.counts_of(conn)
    conn.close()
    result = {
        "wall_s": round(time.monotonic() - STARTED, 1),
        "steps": steps,
        "counts": counts,
        "findings_written": findings.num_rows,
        **merged,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
