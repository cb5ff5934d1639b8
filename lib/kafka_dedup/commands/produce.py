"""Publish a seeded order stream with every real cause of duplicates, plus its ground truth.

Phases: `main` is the normal stream with in-window duplicates, malformed records and
out-of-order versions; `late` holds late duplicates and late unique events, to be sent after
`main` was ingested so that they really arrive behind the watermark. `all` sends both at once
(then nothing is late). The manifest (JSON lines) lists every record with its class and
Kafka coordinates, the unique events, the expected entity_state per key, and a summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kafka_dedup import log
from kafka_dedup.commands.common import load_config
from kafka_dedup.errors import UserError
from kafka_dedup.kafka import legacy, publish, simulator

FLAGS = {"bootstrap_servers": ("kafka", "bootstrap_servers")}
PHASES = {
    "main": (simulator.MAIN,),
    "late": (simulator.LATE,),
    "all": (simulator.MAIN, simulator.LATE),
}
logger = log.get(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-servers", help="Kafka HOST:PORT list (default 127.0.0.1:9092)")
    parser.add_argument("--topic", default="orders", help="topic (created when missing)")
    parser.add_argument("--events", type=int, default=3000, help="unique logical events")
    parser.add_argument("--seed", type=int, default=42, help="same seed -> same stream")
    parser.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"))
    parser.add_argument("--phase", choices=sorted(PHASES), default="all")
    parser.add_argument("--partitions", type=int, default=3, help="partitions of a new topic")
    parser.add_argument("--span-hours", type=float, default=6.0, help="event-time span")
    parser.add_argument(
        "--shape",
        choices=("envelope", "legacy"),
        default="envelope",
        help="envelope (the contract) or legacy: id in $.meta.id, epoch-millis time, key in a "
        "header (ingest it with the mapping `kafka_dedup.kafka.legacy.MAPPING`)",
    )
    defaults = simulator.Mix()
    for name in defaults.__dataclass_fields__:
        parser.add_argument(
            f"--{name.replace('_', '-')}-rate",
            dest=f"rate_{name}",
            type=float,
            default=getattr(defaults, name),
            help=f"{name.replace('_', ' ')} rate",
        )


def run(args: argparse.Namespace) -> int:
    config = load_config(args, FLAGS)
    if args.events < 1:
        raise UserError("--events must be at least 1")
    mix = simulator.Mix(
        **{n: getattr(args, f"rate_{n}") for n in simulator.Mix.__dataclass_fields__}
    )
    if any(not 0 <= rate <= 1 for rate in vars(mix).values()):
        raise UserError("every --*-rate must be between 0 and 1")
    stream = simulator.generate(args.events, args.seed, mix, span_s=args.span_hours * 3600)
    if args.shape == "legacy":
        stream = legacy.reshape(stream)
    bootstrap = config.kafka.bootstrap_servers
    if publish.ensure_topic(bootstrap, args.topic, args.partitions):
        logger.info(f"created topic {args.topic} with {args.partitions} partitions")

    def progress(done: int, total: int) -> None:
        logger.info(f"sent {done}/{total} records")

    coordinates = publish.publish(stream, bootstrap, args.topic, PHASES[args.phase], progress)
    publish.write_manifest(args.manifest, stream, coordinates, args.seed)
    summary = simulator.summary(stream, args.seed)
    sent = sum(1 for r in stream.records if r.phase in PHASES[args.phase])
    print(f"sent {sent} records ({args.phase}) to {args.topic}; manifest {args.manifest}")
    for cls, count in summary["records_by_class"].items():
        print(f"  {cls:<15} {count:>8}")
    return 0
