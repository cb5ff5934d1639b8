"""Run a local Spark standalone cluster: one master and worker JVMs, on 127.0.0.1.

kafka-dedup cluster start    start the master and the workers, wait until all have registered
kafka-dedup cluster stop     stop them
kafka-dedup cluster status   the master URL and its live workers (exit 3 when not running)

Point any Spark command at it with --master spark://127.0.0.1:7077 (or spark.master in the
config, or KAFKA_DEDUP_SPARK__MASTER). Logs, executors' work folders and temp files stay
under --data-dir.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kafka_dedup import cluster, log

EXIT_NOT_RUNNING = 3
DEFAULT_DATA_DIR = "data/cluster"
logger = log.get(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, default=7077, help="master port (default 7077)")
    parser.add_argument("--workers", type=int, default=2, help="worker JVMs (default 2)")
    parser.add_argument("--worker-cores", type=int, default=1, help="cores each (default 1)")
    parser.add_argument(
        "--worker-memory", default="1g", help="executor memory each worker offers (default 1g)"
    )
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help=f"logs and work folders ({DEFAULT_DATA_DIR})"
    )


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if args.action == "start":
        state = cluster.start(
            data_dir, args.port, args.workers, args.worker_cores, args.worker_memory
        )
        logger.info(f"cluster running: {len(state.worker_pids)} workers, web UI {state.web_ui}")
        print(state.master_url)
        return 0
    if args.action == "stop":
        stopped = cluster.stop(data_dir)
        logger.info("cluster stopped" if stopped else f"no cluster from {data_dir.resolve()}")
        return 0
    current = cluster.status(data_dir)
    if current.state is None:
        print(f"not running (data dir {data_dir.resolve()})")
        return EXIT_NOT_RUNNING
    print(
        f"{current.state.master_url}: {current.alive_workers} of "
        f"{len(current.state.worker_pids)} workers alive, {current.cores} cores, "
        f"web UI {current.state.web_ui}"
    )
    return 0 if current.running else EXIT_NOT_RUNNING
