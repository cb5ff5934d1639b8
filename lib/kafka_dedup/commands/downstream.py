"""Reference downstream service: charge `order.paid` events in a SQL database.

A consumer group reads the topic and writes one charge per order.paid event, committing each
offset only after the database write. --mode naive charges every message it receives, so a
redelivery (after a crash, a producer retry or an application resend) charges twice;
--mode idempotent records the event_id with the charge in one transaction and skips events
seen before. --crash-after-process-every N exits hard after the Nth write and before its
offset commit; --restart-on-crash restarts it until the topic is consumed.

The database is a SQLite file by default, or PostgreSQL given a postgresql:// URL.
"""

from __future__ import annotations

import argparse

from kafka_dedup import log
from kafka_dedup.commands.common import load_config
from kafka_dedup.downstream import consumer
from kafka_dedup.downstream.store import jdbc_url, open_store
from kafka_dedup.errors import UserError

FLAGS = {"bootstrap_servers": ("kafka", "bootstrap_servers")}
DEFAULT_DATABASE = "data/downstream/charges.db"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=consumer.MODES, required=True)
    parser.add_argument("--bootstrap-servers", help="Kafka HOST:PORT list (default 127.0.0.1:9092)")
    parser.add_argument(
        "--topic", default="orders", help="topic(s), comma-separated (default orders)"
    )
    parser.add_argument("--group", default="payments", help="consumer group id (default payments)")
    parser.add_argument("--instance-id", default="", help="static member id (default GROUP-1)")
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"SQLite file, or a postgresql://user@host:port/db URL (default {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--event-type",
        default=consumer.CHARGED_EVENT_TYPE,
        help="the event type charged (default order.paid)",
    )
    parser.add_argument(
        "--crash-after-process-every",
        type=int,
        default=0,
        metavar="N",
        help="exit hard after every Nth write, before committing its offset (0: never)",
    )
    parser.add_argument(
        "--restart-on-crash", action="store_true", help="restart after each injected crash"
    )
    parser.add_argument(
        "--max-restarts", type=int, default=10000, help="with --restart-on-crash (default 10000)"
    )
    parser.add_argument(
        "--stop-at-end", action="store_true", help="exit once every partition is consumed"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        help="exit after S seconds without messages (default 0: never)",
    )
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)


def _child_argv(args: argparse.Namespace) -> list[str]:
    argv = [] if getattr(args, "config", None) is None else ["--config", args.config]
    argv += ["downstream", *_log_flags(args)]
    argv += ["--mode", args.mode, "--topic", args.topic, "--group", args.group]
    argv += ["--database", args.database, "--event-type", args.event_type]
    argv += ["--crash-after-process-every", str(args.crash_after_process_every)]
    argv += ["--idle-timeout", str(args.idle_timeout), "--supervised"]
    if args.instance_id:
        argv += ["--instance-id", args.instance_id]
    if args.bootstrap_servers:
        argv += ["--bootstrap-servers", args.bootstrap_servers]
    if args.stop_at_end:
        argv.append("--stop-at-end")
    return argv


def _log_flags(args: argparse.Namespace) -> list[str]:
    """The supervisor's --quiet/--verbose/--log-json, passed on to each consumer it starts."""
    verbosity = getattr(args, "verbosity", None) or log.NORMAL
    flags = {log.QUIET: ["--quiet"], log.VERBOSE: ["--verbose"]}.get(verbosity, [])
    return flags + (["--log-json"] if getattr(args, "log_json", None) else [])


def _print_totals(database: str) -> None:
    store = open_store(database)
    try:
        rows, events = store.counts()
    finally:
        store.close()
    print(f"charges: {rows} rows for {events} events ({rows - events} duplicate charges)")
    print(
        f'reconcile this source with format = "jdbc", url = "{jdbc_url(database)}", '
        'table = "charges"'
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    every = args.crash_after_process_every
    if every < 0 or every == 1:
        raise UserError(
            "--crash-after-process-every must be 0 (never) or >= 2: with 1 the consumer would "
            "crash on the same redelivered message forever"
        )
    if args.restart_on_crash and not (args.stop_at_end or args.idle_timeout):
        raise UserError("--restart-on-crash needs --stop-at-end or --idle-timeout to finish")
    if args.restart_on_crash:
        code, restarts = consumer.supervise(_child_argv(args), args.max_restarts)
        print(f"consumer restarts after crashes: {restarts}")
        if code == 0:
            _print_totals(args.database)
        return code
    options = consumer.Options(
        bootstrap_servers=config.kafka.bootstrap_servers,
        topics=tuple(t.strip() for t in args.topic.split(",") if t.strip()),
        group=args.group,
        mode=args.mode,
        database=args.database,
        crash_after_process_every=every,
        stop_at_end=args.stop_at_end,
        idle_timeout_s=args.idle_timeout,
        instance_id=args.instance_id,
        event_type=args.event_type,
    )
    stats = consumer.consume(options)
    print(f"{args.mode} consumer: {stats.line()}")
    if not args.supervised:  # the supervisor prints the totals once at the end
        _print_totals(args.database)
    return 0
