"""Ready queries for duplicate forensics, on DuckDB (local, fast) or Spark (S3, large tables).

kafka-dedup forensics summary               duplicate rate overall and by topic, partition,
                                            producer, hour; quarantine by reason; late rows
kafka-dedup forensics top-keys [--top N]    keys and producers with the most duplicates
kafka-dedup forensics trace --event-id ID   the whole story of one event (or --key K):
                                            deliveries, the row kept in events, entity_state
                                            versions, reconciliation findings
kafka-dedup forensics gaps                  time between first and later copies, and whether
                                            the watermark delay covers it
kafka-dedup forensics as-of (--timestamp TS | --version N [--table T]) QUERY ...
                                            any of the above on the tables as they were then
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from kafka_dedup.commands.common import load_config
from kafka_dedup.config import Config
from kafka_dedup.forensics import gaps, options, queries, trace
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.engines import open_engine
from kafka_dedup.forensics.output import Report, render_report

FLAGS = {**options.FLAGS, "watermark": ("ingest", "watermark")}


def _add_queries(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, help=help_text, description=help_text, parents=[common])

    add("summary", "duplicate rate overall and by topic, partition, producer and hour")
    top = add("top-keys", "the keys and producers with the most duplicates")
    top.add_argument("--top", type=int, default=queries.DEFAULT_TOP, help="rows per list")
    one = add("trace", "the whole story of one event or key, in time order")
    subject = one.add_mutually_exclusive_group(required=True)
    subject.add_argument("--event-id", metavar="ID")
    subject.add_argument("--key", metavar="KEY")
    one.add_argument(
        "--max-versions",
        type=int,
        default=trace.DEFAULT_MAX_VERSIONS,
        help="entity_state versions to read, newest first",
    )
    gap = add("gaps", "time between first and later copies, against the watermark delay")
    gap.add_argument("--watermark", help="delay to judge against (default: ingest.watermark)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = options.common_parser()
    subparsers = parser.add_subparsers(dest="query", metavar="QUERY", required=True)
    _add_queries(subparsers, common)
    as_of = subparsers.add_parser(
        "as-of",
        help="run a query on the tables as they were at a timestamp or version",
        description="Delta time travel: every table is read at its newest version committed "
        "at or before the timestamp (or the commit time of --table's --version).",
    )
    options.add_as_of(as_of, required=True)
    _add_queries(as_of.add_subparsers(dest="as_of_query", metavar="QUERY", required=True), common)


def _report(name: str, engine: Engine, args: argparse.Namespace, config: Config) -> Report:
    limit = options.row_limit(args)
    ready: dict[str, Callable[[], Report]] = {
        "summary": lambda: queries.summary(engine, limit),
        "top-keys": lambda: queries.top_keys(engine, args.top),
        "trace": lambda: trace.trace(
            engine, args.event_id, args.key, max(1, args.max_versions), limit
        ),
        "gaps": lambda: gaps.gaps(engine, config.ingest.watermark),
    }
    return ready[name]()


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    name = args.as_of_query if args.query == "as-of" else args.query
    with open_engine(config, args.engine, options.as_of_from(args)) as engine:
        report = _report(name, engine, args, config)
    print(render_report(report, args.format))
    return 0
