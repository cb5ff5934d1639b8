"""Table maintenance, safe beside a live ingest: compaction, VACUUM, time-travel checks.

Per table (all present ones, or --table / maintain.tables): OPTIMIZE (bin-packing) of the
small files, raise delta.logRetentionDuration and delta.deletedFileRetentionDuration to
maintain.retention when shorter (never lower them), VACUUM keeping maintain.retention (so
`forensics as-of` reads any version of that window), then check that the latest Delta log
checkpoint file is in place and that the table reads at its latest version and at the oldest
version inside the window.

While an ingest run holds the checkpoints, only what it cannot conflict with is compacted:
deliveries, quarantine, ingest_batches, the reconcile tables, and events partitions before the
stream's watermark day; entity_state waits for a run without ingest. Otherwise maintain holds
the checkpoints' lease itself, so no ingest starts meanwhile. Delta commit conflicts are
retried (maintain.max_retries, doubling maintain.retry_backoff).

exit codes: 0 done, 5 a table kept conflicting after the retries, 2 bad input or
configuration, 1 unexpected failure.
"""

from __future__ import annotations

import argparse

from kafka_dedup.commands.common import load_config

FLAGS = {
    "warehouse": ("storage", "warehouse"),
    "checkpoints": ("storage", "checkpoints"),
    "retention": ("maintain", "retention"),
    "max_retries": ("maintain", "max_retries"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warehouse", help="folder or s3a:// URI of the tables (data/warehouse)")
    parser.add_argument(
        "--checkpoints", help="the ingest's checkpoints: its lease and watermark are read there"
    )
    parser.add_argument(
        "--table",
        action="append",
        metavar="NAME",
        help="maintain only this table (repeatable; default: maintain.tables, else all)",
    )
    parser.add_argument(
        "--retention", help="time-travel window VACUUM keeps (default maintain.retention, 7 days)"
    )
    parser.add_argument("--max-retries", type=int, help="retries per table on a Delta conflict")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be compacted and vacuumed"
    )
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")


def run(args: argparse.Namespace) -> int:
    from kafka_dedup import config as config_mod

    config = load_config(args, FLAGS)
    if args.table:
        tables = ",".join(args.table)
        config = config_mod.apply(config, {"maintain": {"tables": tables}}, "--table")

    from kafka_dedup.maintain import report
    from kafka_dedup.maintain.job import run_maintain
    from kafka_dedup.session import build_session

    spark = build_session(config)
    result = run_maintain(spark, config, dry_run=args.dry_run)
    print(report.json_text(result) if args.json else report.terminal_table(result))
    return 0
