"""Ingest Kafka topics into Delta: every delivery, the deduplicated events, the latest state.

Two chained streaming queries in one application, each with its own checkpoint:
Kafka -> `deliveries` (+ malformed records -> `quarantine`), and `deliveries` ->
watermark -> dropDuplicatesWithinWatermark(key, event_id) -> MERGE into `events` and
`entity_state`. `--trigger available-now` runs until everything Kafka held at the start is
in the tables, then exits; an interval such as '10 seconds' runs until SIGTERM/Ctrl-C, which
finishes the micro-batch in flight and exits 0.

One run per checkpoint location: a second run waits up to ingest.lock_wait (--lock-wait) for
the first one's lease, then exits 4 with one line naming the holder, having written nothing.
"""

from __future__ import annotations

import argparse
import signal
import threading
import uuid

from kafka_dedup.commands.common import load_config
from kafka_dedup.ingest import lock
from kafka_dedup.ingest.job import check_kafka, run_ingest
from kafka_dedup.paths import absolute
from kafka_dedup.session import build_session

FLAGS = {
    "bootstrap_servers": ("kafka", "bootstrap_servers"),
    "topics": ("kafka", "topics"),
    "topic_pattern": ("kafka", "topic_pattern"),
    "starting_offsets": ("kafka", "starting_offsets"),
    "max_offsets_per_trigger": ("kafka", "max_offsets_per_trigger"),
    "warehouse": ("storage", "warehouse"),
    "checkpoints": ("storage", "checkpoints"),
    "trigger": ("ingest", "trigger"),
    "watermark": ("ingest", "watermark"),
    "max_future_skew": ("ingest", "max_future_skew"),
    "lock_wait": ("ingest", "lock_wait"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", help="Kafka HOST:PORT list (default 127.0.0.1:9092)")
    parser.add_argument("--topics", help="comma-separated topics (default orders)")
    parser.add_argument("--topic-pattern", help="subscribe to topics matching this regex instead")
    parser.add_argument("--warehouse", help="folder or s3a:// URI of the tables (data/warehouse)")
    parser.add_argument("--checkpoints", help="folder or s3a:// URI of the checkpoints")
    parser.add_argument(
        "--trigger", help="available-now (default) or an interval like '10 seconds'"
    )
    parser.add_argument("--watermark", help="event-time delay for dedup state (default '1 hour')")
    parser.add_argument(
        "--max-future-skew",
        help="quarantine records whose event_time is further ahead of the clock ('15 minutes')",
    )
    parser.add_argument(
        "--starting-offsets",
        help="earliest (default), latest or JSON offsets: only for partitions deliveries lacks",
    )
    parser.add_argument(
        "--max-offsets-per-trigger", type=int, help="cap on records per micro-batch (0: none)"
    )
    parser.add_argument(
        "--lock-wait",
        help="how long to wait for another run on the same checkpoints (default '0 seconds': "
        f"exit {lock.EXIT_LOCKED} at once)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    check_kafka(config)  # before Spark starts: a bad broker or topic costs no JVM start-up
    run_id = uuid.uuid4().hex[:12]
    # Held around the whole run, before the session exists: a refused run starts no JVM
    # and writes nothing.
    with lock.hold(config, run_id, on_lost=stop.set):
        spark = build_session(config)
        result = run_ingest(spark, config, stop, run_id=run_id)
    totals = result.totals
    how = "stopped by signal" if result.stopped_by_signal else "done"
    print(
        f"ingest run {result.run_id} {how}: read {totals.records_read}, malformed "
        f"{totals.malformed}, duplicates removed by state {totals.duplicates_removed_by_state}, "
        f"caught by merge {totals.duplicates_caught_by_merge}, late {totals.late_rows}, "
        f"events inserted {totals.rows_inserted}, state updates {totals.state_updates}"
    )
    print(f"tables under {absolute(config.storage.warehouse)} (database {config.storage.database})")
    return 0
