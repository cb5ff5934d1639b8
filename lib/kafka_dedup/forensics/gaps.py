"""Ready query `gaps`: how long after the first copy later ones arrive, against the watermark."""

from __future__ import annotations

from kafka_dedup.config import duration_seconds
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.output import Report, Section
from kafka_dedup.forensics.views import DUPLICATES

LATER_COPIES = "later_copies"
# (order, label, lower bound ms inclusive, upper bound ms exclusive)
BUCKETS = (
    (0, "< 1 s", 0, 1_000),
    (1, "1 s - 10 s", 1_000, 10_000),
    (2, "10 s - 1 min", 10_000, 60_000),
    (3, "1 min - 10 min", 60_000, 600_000),
    (4, "10 min - 1 h", 600_000, 3_600_000),
    (5, "1 h - 6 h", 3_600_000, 21_600_000),
    (6, "6 h - 1 day", 21_600_000, 86_400_000),
    (7, ">= 1 day", 86_400_000, 2**62),
)


def _percentile_ms(fraction: float) -> str:
    return f"CAST(round(percentile(gap_ms, {fraction})) AS BIGINT)"


STATS_SQL = f"""
SELECT count(*) AS later_copies, min(gap_ms) AS min_ms, {_percentile_ms(0.5)} AS p50_ms,
       {_percentile_ms(0.9)} AS p90_ms, {_percentile_ms(0.99)} AS p99_ms, max(gap_ms) AS max_ms,
       CAST(:watermark_ms AS BIGINT) AS watermark_ms,
       count(CASE WHEN gap_ms > :watermark_ms THEN 1 END) AS beyond_watermark
FROM {LATER_COPIES}"""

_BUCKET_ROWS = ", ".join(f"({o}, '{label}', {lo}, {hi})" for o, label, lo, hi in BUCKETS)
DISTRIBUTION_SQL = f"""
SELECT b.bucket, count(l.gap_ms) AS later_copies,
       CAST(100 * count(l.gap_ms) AS DOUBLE) / nullif(t.total, 0) AS pct
FROM (VALUES {_BUCKET_ROWS}) AS b(bucket_order, bucket, lower_ms, upper_ms)
CROSS JOIN (SELECT count(*) AS total FROM {LATER_COPIES}) AS t
LEFT JOIN {LATER_COPIES} AS l ON l.gap_ms >= b.lower_ms AND l.gap_ms < b.upper_ms
GROUP BY b.bucket_order, b.bucket, t.total
ORDER BY b.bucket_order"""

BY_CAUSE_SQL = f"""
SELECT likely_cause, count(*) AS later_copies, min(gap_ms) AS min_ms,
       {_percentile_ms(0.5)} AS p50_ms, max(gap_ms) AS max_ms
FROM {LATER_COPIES}
GROUP BY likely_cause
ORDER BY likely_cause"""


def duration_ms(text: str) -> int:
    """'1 hour', '30 minutes', '10 seconds' in milliseconds (the project's duration grammar)."""
    return round(duration_seconds(text) * 1000)


def human(ms: int) -> str:
    """A duration for people: 850 ms, 12.5 s, 4.2 min, 1.5 h."""
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.3g} {unit}"
    return f"{ms} ms"


def verdict(later: int, beyond: int, max_ms: int | None, watermark: str) -> str:
    """Whether the watermark delay covers the redelivery gaps seen, in one sentence."""
    if later == 0:
        return f"no later copies: the gaps say nothing about the watermark delay ({watermark})"
    if beyond == 0:
        return (
            f"watermark delay {watermark} is wide enough: all {later} later copies arrived "
            f"within {human(max_ms or 0)} of their first copy"
        )
    return (
        f"watermark delay {watermark} is too narrow: {beyond} of {later} later copies "
        f"({100 * beyond / later:.1f}%) arrived more than {watermark} after their first copy "
        f"(up to {human(max_ms or 0)}); the stream's dropDuplicatesWithinWatermark may have "
        "forgotten the first copy by then, leaving them to the insert-only MERGE or the nightly "
        f"run; widen ingest.watermark to at least {human(max_ms or 0)} to drop them in the stream"
    )


def gaps(engine: Engine, watermark: str = "1 hour") -> Report:
    """Distribution of the time between first and later copies (Kafka timestamps)."""
    engine.materialize(
        LATER_COPIES, f"SELECT gap_ms, likely_cause FROM {DUPLICATES} WHERE copy_number > 1"
    )
    params = {"watermark_ms": duration_ms(watermark)}
    stats = engine.run(STATS_SQL, params)
    sections = [
        Section("stats", f"gap after the first copy (watermark {watermark})", stats),
        Section("distribution", "later copies by gap", engine.run(DISTRIBUTION_SQL)),
        Section("by_cause", "gaps by likely cause", engine.run(BY_CAUSE_SQL)),
    ]
    row = dict(zip(stats.columns, stats.rows()[0], strict=True))
    note = verdict(row["later_copies"], row["beyond_watermark"], row["max_ms"], watermark)
    return Report(sections, [*engine.notes(), note])
