"""The `kafka-dedup` command line: one sub-command module per job under kafka_dedup.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kafka_dedup import __version__, log
from kafka_dedup.errors import UserError

# name -> one-line help. Each kafka_dedup.commands.<name> module defines add_arguments(parser)
# and run(args) -> int, and its docstring is the command's description. Only the chosen
# command's module is imported: a DuckDB query should not pay for importing Spark.
COMMANDS = {
    "broker": "start, stop or check the local Kafka broker",
    "produce": "publish a seeded stream with duplicates and write its ground-truth manifest",
    "ingest": "stream Kafka topics into deliveries, events and entity_state (Delta)",
    "reconcile": "reconcile downstream side effects of one day against the event log",
    "downstream": "run the reference payments consumer (naive or idempotent) on a SQL database",
    "sql": "run SQL (read-only by default) over the warehouse tables, on DuckDB or Spark",
    "forensics": "ready duplicate-forensics queries: summary, top-keys, trace, gaps, as-of",
    "maintain": "compact small files and VACUUM, keeping the time-travel window, beside ingest",
    "aws": "deploy, package, submit and follow the jobs on EMR Serverless",
    "cluster": "start, stop or check a local Spark standalone cluster (master + workers)",
}
# commands that start a Spark session: they take --master (spark.master)
SPARK_COMMANDS = ("ingest", "reconcile", "sql", "forensics", "maintain")


def _chosen(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first token that is one)."""
    return next((token for token in argv if token in COMMANDS), None)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; only the module of the command argv names is imported."""
    parser = argparse.ArgumentParser(
        prog="kafka-dedup",
        description=(
            "Deduplicate at-least-once Kafka topics into Delta Lake, keep every delivery for "
            "forensics, and reconcile downstream side effects."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config file (defaults < file < KAFKA_DEDUP_* env < flags)",
    )
    _add_output_flags(parser, default=None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, summary in COMMANDS.items():
        if name != chosen:
            subparsers.add_parser(name, help=summary)
            continue
        module = importlib.import_module(f"kafka_dedup.commands.{name}")
        sub = subparsers.add_parser(
            name, help=summary, description=module.__doc__, formatter_class=_Formatter
        )
        sub.add_argument(
            "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file"
        )
        _add_output_flags(sub, default=argparse.SUPPRESS)
        if name in SPARK_COMMANDS:
            sub.add_argument(
                "--master", metavar="URL", default=argparse.SUPPRESS,
                help="Spark master, e.g. spark://host:7077 (default: spark.master, local[*])",
            )  # fmt: skip
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def _add_output_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """--quiet/--verbose/--log-json, accepted before or after the sub-command."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_const", const=log.QUIET, dest="verbosity",
        default=default, help="only warnings and errors on stderr (no progress lines)",
    )  # fmt: skip
    group.add_argument(
        "-v", "--verbose", action="store_const", const=log.VERBOSE, dest="verbosity",
        default=default, help="debug messages too",
    )  # fmt: skip
    parser.add_argument(
        "--log-json", action="store_true", default=default,
        help="messages on stderr as JSON lines (time, level, logger, message, fields)",
    )  # fmt: skip


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the module docstrings' line breaks (each option's help states its default)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the sub-command, and turn known errors into one line and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    log.setup(args.verbosity or log.NORMAL, bool(args.log_json))
    logger = log.get(f"commands.{args.command}")
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        logger.error(f"kafka-dedup {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        logger.error(f"kafka-dedup {args.command}: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
