"""Command-line options shared by `sql` and `forensics`: warehouse, engine, format, as-of."""

from __future__ import annotations

import argparse

from kafka_dedup import tables
from kafka_dedup.errors import UserError
from kafka_dedup.forensics.engines import ENGINES
from kafka_dedup.forensics.history import AsOf, AsOfError, parse_timestamp
from kafka_dedup.forensics.output import DEFAULT_LIMIT, FORMATS

FLAGS = {"warehouse": ("storage", "warehouse")}


class OptionError(UserError):
    """A command-line value is out of range."""


def common_parser() -> argparse.ArgumentParser:
    """A parent parser with the options every sql/forensics invocation accepts."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file"
    )
    add_common(parser)
    return parser


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warehouse", metavar="DIR", help="warehouse (default data/warehouse)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: duckdb for a local warehouse, spark for s3a:// or --allow-write",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"rows shown per result, 0 for all (default {DEFAULT_LIMIT} for table, all for "
        "csv and json)",
    )


def add_as_of(parser: argparse.ArgumentParser, required: bool) -> None:
    """--timestamp TS | --version N [--table NAME]: read every table as it was then."""
    point = parser.add_mutually_exclusive_group(required=required)
    point.add_argument("--timestamp", metavar="TS", help="ISO-8601, UTC unless an offset is given")
    point.add_argument(
        "--version", type=int, metavar="N", help="a version of --table; its commit time is used"
    )
    parser.add_argument(
        "--table",
        default=tables.DELIVERIES,
        choices=tables.ALL_TABLES,
        help="the table --version refers to",
    )


def as_of_from(args: argparse.Namespace) -> AsOf | None:
    """The as-of point the arguments name, if any."""
    timestamp = getattr(args, "timestamp", None)
    version = getattr(args, "version", None)
    if timestamp is None and version is None:
        return None
    if version is not None and version < 0:
        raise AsOfError(f"--version {version}: Delta versions start at 0")
    moment = parse_timestamp(timestamp) if timestamp is not None else None
    return AsOf(timestamp=moment, version=version, table=args.table)


def row_limit(args: argparse.Namespace) -> int | None:
    """None means all rows: the default for csv and json, and what --limit 0 asks for."""
    if args.limit is None:
        return DEFAULT_LIMIT if args.format == "table" else None
    if args.limit < 0:
        raise OptionError("--limit must be 0 (all rows) or more")
    return args.limit or None
