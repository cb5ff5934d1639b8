"""The `kafka-dedup` command line: one sub-command module per job under kafka_dedup.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kafka_dedup import __version__
from kafka_dedup.errors import UserError

# Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int.
COMMAND_MODULES = (
    "kafka_dedup.commands.broker",
    "kafka_dedup.commands.produce",
    "kafka_dedup.commands.ingest",
)

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            module.NAME, help=module.HELP, description=module.__doc__, formatter_class=_Formatter
        )
        sub.add_argument(
            "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file"
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the module docstrings' line breaks."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the sub-command, and turn known errors into one line and an exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"kafka-dedup {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"kafka-dedup {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
