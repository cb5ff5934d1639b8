"""Run a local single-node Kafka 4.x broker (KRaft) on 127.0.0.1 for the demo and tests.

kafka-dedup broker start   format storage on first use, start, wait until it answers
kafka-dedup broker stop    stop it cleanly
kafka-dedup broker status  say whether it runs and answers metadata requests
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kafka_dedup import log
from kafka_dedup.commands.common import load_config
from kafka_dedup.kafka import broker

FLAGS = {"port": ("broker", "port"), "data_dir": ("broker", "data_dir")}
EXIT_NOT_RUNNING = 3
logger = log.get(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, help="client port on 127.0.0.1 (default 9092)")
    parser.add_argument("--data-dir", help="storage, config and log folder (default data/broker)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    data_dir = Path(config.broker.data_dir)
    port = config.broker.port
    if args.action == "start":
        started = broker.start(port, data_dir, timeout_s=config.broker.start_timeout_s)
        logger.info(
            f"broker running: bootstrap servers {started.bootstrap_servers}, pid {started.pid}, "
            f"log {started.data_dir / broker.LOG_FILE}"
        )
        return 0
    if args.action == "stop":
        stopped = broker.stop(data_dir)
        logger.info("broker stopped" if stopped else f"no broker running for {data_dir.resolve()}")
        return 0
    current = broker.status(port, data_dir)
    if current.running:
        print(f"running: pid {current.pid}, bootstrap servers {current.bootstrap_servers}")
        return 0
    state = f"process {current.pid} does not answer" if current.pid else "not running"
    print(f"{state} ({current.bootstrap_servers}, data dir {current.data_dir})")
    return EXIT_NOT_RUNNING
