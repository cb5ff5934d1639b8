"""The domain's words, defined once: event identity, first-seen order, quarantine reasons,
duplicate causes, `merged_by` values, finding types and their actions.

Plain Python (no Spark): the downstream consumer, the DuckDB engine and the Spark jobs all
import it. Spark transformations and SQL views render these definitions; nobody restates them.
"""

from __future__ import annotations

# --- event identity -----------------------------------------------------------------------
# One event is one (key, event_id): the same event_id under two keys is two events.
IDENTITY = ("key", "event_id")
# Kafka coordinates: one delivery is one (topic, partition, offset).
COORDINATES = ("topic", "partition", "offset")

# --- first-seen order -----------------------------------------------------------------------
# Among the copies of one event, the first seen is the lowest in this order (nulls first, as
# Spark's default ascending order and the SQL below both put them). events keeps that copy.
FIRST_SEEN_ORDER = ("kafka_timestamp", *COORDINATES)


def first_seen_order_sql() -> str:
    """FIRST_SEEN_ORDER as an ORDER BY list valid in Spark SQL and DuckDB alike."""
    first, *rest = (f"`{column}`" for column in FIRST_SEEN_ORDER)
    return ", ".join([f"{first} ASC NULLS FIRST", *rest])


# --- merged_by: who put a row into events ---------------------------------------------------
MERGED_BY_STREAM = "stream"  # the streaming ingest
MERGED_BY_RECONCILE = "reconcile"  # the nightly run, repairing an UNMERGED event
MERGED_BY = (MERGED_BY_STREAM, MERGED_BY_RECONCILE)

# --- quarantine reasons ---------------------------------------------------------------------
EMPTY_VALUE = "empty_value"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
MISSING_EVENT_ID = "missing_event_id"
MISSING_EVENT_TIME = "missing_event_time"
INVALID_EVENT_TIME = "invalid_event_time"
INVALID_SEQUENCE = "invalid_sequence"
MISSING_KEY = "missing_key"
# A producer clock far ahead (2099) would move the watermark for good and make every later
# record late; such records are quarantined instead and never reach the watermark.
FUTURE_EVENT_TIME = "future_event_time"
# format = "avro" mappings: a body not in the Confluent wire format or not decodable with its
# writer schema; a schema id the registry does not hold.
INVALID_AVRO = "invalid_avro"
UNKNOWN_SCHEMA_ID = "unknown_schema_id"
QUARANTINE_REASONS = (
    EMPTY_VALUE,
    INVALID_UTF8,
    INVALID_JSON,
    INVALID_AVRO,
    UNKNOWN_SCHEMA_ID,
    MISSING_EVENT_ID,
    MISSING_EVENT_TIME,
    INVALID_EVENT_TIME,
    FUTURE_EVENT_TIME,
    INVALID_SEQUENCE,
    MISSING_KEY,
)

# --- duplicate causes (read from the tables alone) ------------------------------------------
FIRST_COPY = "first copy"
PRODUCER_RETRY = "producer retry"  # every compared field equals the first copy's
APPLICATION_RESEND = "application resend"  # some compared field differs
OFFSET_REREAD = "same offset read again: impossible here, deliveries keeps each offset once"
DUPLICATE_CAUSES = (FIRST_COPY, PRODUCER_RETRY, APPLICATION_RESEND, OFFSET_REREAD)
# Envelope fields compared with the first copy: all equal means the producer sent the same
# message again; any difference means the application built and sent it again.
COMPARED_FIELDS = ("producer_id", "event_type", "event_time", "sequence", "payload")

# --- reconciliation findings and their actions ----------------------------------------------
MISSING = "MISSING"
DUPLICATE = "DUPLICATE"
ORPHAN = "ORPHAN"
MISMATCH = "MISMATCH"
UNMERGED = "UNMERGED"
LATE_EFFECT = "LATE_EFFECT"  # an effect more than `lookback` after its event
UNMERGEABLE = "UNMERGEABLE"  # a valid delivery absent from events, older than late_lookback
PENDING = "PENDING"  # an event still inside `grace` at the run; a later run re-checks it
FINDING_TYPES = (MISSING, DUPLICATE, ORPHAN, MISMATCH, UNMERGED, LATE_EFFECT, UNMERGEABLE, PENDING)
MALFORMED = "MALFORMED"  # side-effect rows that cannot be classified: counted, listed, alerted
LOG_SOURCE = "log"  # the source name of UNMERGED findings: the event log itself

REPLAY = "replay"  # the one action that asks a consumer to produce the effect again
REVIEW = "review"
COMPENSATE = "compensate"
INVESTIGATE = "investigate"
WAIT = "wait"
# What a person or a remediation consumer should do about each class.
ACTIONS = {
    MISSING: REPLAY,  # only when no effect of the event exists anywhere: else REVIEW
    DUPLICATE: COMPENSATE,
    ORPHAN: INVESTIGATE,
    MISMATCH: INVESTIGATE,
    UNMERGED: INVESTIGATE,
    LATE_EFFECT: REVIEW,
    UNMERGEABLE: INVESTIGATE,
    PENDING: WAIT,
}
# A MISSING event with some effects somewhere (fewer than expected) is not replayed: a replay
# could duplicate those, so a person decides.
MISSING_WITH_SOME_EFFECT_ACTION = REVIEW

# A scheduler should alert on any real discrepancy; UNMERGED is repaired by the run itself,
# and a PENDING event is not a discrepancy yet. None: no limit.
DEFAULT_THRESHOLDS: dict[str, int | None] = {
    MISSING: 0,
    DUPLICATE: 0,
    ORPHAN: 0,
    MISMATCH: 0,
    UNMERGED: None,
    LATE_EFFECT: 0,
    UNMERGEABLE: 0,
    PENDING: None,
    MALFORMED: 0,
}
