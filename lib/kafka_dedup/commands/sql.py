"""SQL over the warehouse: every table of the design by name, plus the `duplicates` view.

kafka-dedup sql "SELECT ..."        run one or more statements (separated by ';')
kafka-dedup sql -f query.sql        run the statements of a file
kafka-dedup sql                     interactive prompt (history, multi-line statements);
                                    statements piped on stdin run one after the other

Tables: deliveries, events, entity_state, quarantine, ingest_batches, reconciliation_findings,
reconciliation_runs (empty until they exist). Views: delivery_copies (every valid delivery
with copy_number, copies, gap_ms, likely_cause), duplicates (the same, duplicated keys only).
Read-only unless --allow-write (Spark engine; write to kafka_dedup.<table>): only queries,
EXPLAIN (not ANALYZE), DESCRIBE and SHOW run, as each engine's own parser classifies them,
and only the warehouse can be read. The duckdb engine (default for a local warehouse) answers
in about a second; spark is used for s3a:// warehouses.
Use backticks for `partition` and `offset`; both engines accept them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafka_dedup import log
from kafka_dedup.commands.common import load_config
from kafka_dedup.errors import UserError
from kafka_dedup.forensics import options, shell
from kafka_dedup.forensics.engines import open_engine

logger = log.get(__name__)

WRITE_WARNING = (
    "kafka-dedup sql: --allow-write: statements are not checked and can change tables "
    "and files (Spark engine)"
)


class SqlInputError(UserError):
    """The statements to run could not be read."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", help="statement(s) to run; omit for the prompt")
    parser.add_argument("-f", "--file", type=Path, help="run the statements in this file")
    parser.add_argument(
        "--allow-write", action="store_true", help="allow statements that write (Spark engine)"
    )
    options.add_common(parser)
    as_of = parser.add_argument_group("time travel (read every table as it was)")
    as_of.add_argument("--as-of-timestamp", dest="timestamp", metavar="TS", help="ISO-8601")
    as_of.add_argument(
        "--as-of-version", dest="version", type=int, metavar="N", help="version of --as-of-table"
    )
    as_of.add_argument("--as-of-table", dest="table", default="deliveries", metavar="NAME")


def _text(args: argparse.Namespace) -> str | None:
    """The SQL given by argument or file; None for the interactive prompt."""
    if args.query is not None and args.file is not None:
        raise SqlInputError("give a query or -f FILE, not both")
    if args.file is not None:
        if not args.file.is_file():
            raise SqlInputError(f"SQL file {args.file} not found")
        return args.file.read_text(encoding="utf-8")
    return args.query


def run(args: argparse.Namespace) -> int:
    if args.timestamp is not None and args.version is not None:
        raise SqlInputError("give --as-of-timestamp or --as-of-version, not both")
    config = load_config(args, options.FLAGS)
    text = _text(args)
    if text is not None and not text.strip():
        raise SqlInputError("no SQL statement given")
    limit = options.row_limit(args)
    with open_engine(config, args.engine, options.as_of_from(args), args.allow_write) as engine:
        if args.allow_write:
            logger.warning(WRITE_WARNING)
        for note in engine.notes():
            logger.info(note)
        if text is None:
            return shell.interactive(shell.Prompt(engine, args.format, limit))
        shell.run_text(engine, text, args.format, limit, sys.stdout)
    return 0
