"""Reconcile one day: prove that each downstream side effect happened exactly once.

Finds valid deliveries missing from `events` (UNMERGED) and merges them, reports older ones
(UNMERGEABLE), then classifies every configured side-effect source ([[reconcile.sources]] in
the config file) against the event log: the day's events (MISSING, PENDING) and the effects
that happened on the day, whatever their event's day (DUPLICATE, LATE_EFFECT, MISMATCH,
ORPHAN). Writes reconciliation_findings and reconciliation_runs (a re-run of a date replaces
its rows), an HTML report and a JSON summary (under <warehouse>/_reports/<date>/ unless
report_dir says otherwise), and optionally one remediation message per finding to a topic.

exit codes: 0 clean, 3 findings over the thresholds, 4 partial (the day or its grace period
is not over at --as-of), 2 bad input or configuration, 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import date, datetime, timezone

from kafka_dedup.commands.common import load_config
from kafka_dedup.errors import UserError
from kafka_dedup.reconcile import report

FLAGS = {"warehouse": ("storage", "warehouse"), "bootstrap_servers": ("kafka", "bootstrap_servers")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, help="the day to reconcile, YYYY-MM-DD (UTC)")
    parser.add_argument(
        "--warehouse", help="warehouse folder or s3a:// URI (default data/warehouse)"
    )
    parser.add_argument(
        "--as-of",
        help="ISO-8601 time the grace period is measured against (default: now)",
    )
    parser.add_argument(
        "--report-dir",
        help="folder or s3a:// URI for <date>/report.html (default <warehouse>/_reports)",
    )
    parser.add_argument("--remediation-topic", help="publish one message per finding to this topic")
    parser.add_argument("--bootstrap-servers", help="Kafka HOST:PORT list for remediation")
    parser.add_argument("--json", action="store_true", help="print the JSON summary, not a table")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--date {text!r}: expected a day as YYYY-MM-DD") from None


def parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--as-of {text!r}: expected an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    run_date, as_of = parse_date(args.date), parse_as_of(args.as_of)
    overrides = {"report_dir": args.report_dir, "remediation_topic": args.remediation_topic}
    parsed = dataclasses.replace(
        config.reconcile, **{k: v for k, v in overrides.items() if v is not None}
    )

    from kafka_dedup.reconcile.job import run_reconcile
    from kafka_dedup.session import build_session

    spark = build_session(config)
    result = run_reconcile(spark, config, run_date, as_of, parsed)
    if args.json:
        print(json.dumps(result.summary, indent=2, sort_keys=True, default=str))
    else:
        print(report.terminal_table(result.summary))
    return result.exit_code
