"""`make demo`: local broker, a seeded stream with every duplicate cause, ingestion, a summary.

Two topics go into the same tables: `orders` in the JSON envelope, and `returns` in another
team's layout (id in $.meta.id, epoch-millis time, key in a header), read through the
[[ingest.mappings]] table of kafka_dedup.kafka.legacy.

Runs from scratch each time under data/demo/ (the previous demo's broker and tables are
removed first), so the same seed always gives the same figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import log, tables
from kafka_dedup.config import Config
from kafka_dedup.domain import DUPLICATE, UNMERGED
from kafka_dedup.errors import UserError
from kafka_dedup.forensics import queries
from kafka_dedup.forensics.engines import open_engine
from kafka_dedup.kafka import broker, legacy, publish, simulator
from kafka_dedup.session import build_session
from kafka_dedup.tables import DELIVERIES, ENTITY_STATE, EVENTS, QUARANTINE
from kafka_dedup.warehouse import Warehouse

logger = log.get(__name__)

TOPIC = "orders"
LEGACY_TOPIC = "returns"  # the second topic, in another shape
INGEST_TOML = "ingest.toml"
DEFAULT_PORT = 9092
RUN_DATE = "2026-11-25"  # the simulator's default stream start
CRASH_EVERY = 200
RECONCILE_TOML = """\
[reconcile]
report_dir = "{reports}"
{sources}"""
SOURCE_TOML = """
[[reconcile.sources]]
name = "{name}"
format = "jdbc"
url = "jdbc:sqlite:{database}"
table = "charges"
event_id_column = "event_id"
key_column = "order_id"
effect_id_column = "charge_id"
expects_event_types = ["order.paid"]
compare = {{ "payload.amount" = "amount" }}
"""


def _say(text: str) -> None:
    logger.info(f"\n== {text}")


def _output(lines: list[str]) -> None:
    """The demo's results, on stdout, flushed to stay between the logged headers (stderr)."""
    print("\n".join(lines), flush=True)


def _start_broker(root: Path, port: int) -> str:
    data_dir = root / "broker"
    if not broker.port_free(port):
        port = broker.free_port()
        logger.info(f"port {DEFAULT_PORT} is taken: the demo broker uses {port} instead")
    return broker.start(port, data_dir).bootstrap_servers


def ingest_toml(root: Path) -> Path:
    """The config file with the mapping of the second topic (the first is the envelope)."""
    return root / INGEST_TOML


def demo_config(root: Path, bootstrap: str) -> Config:
    """The demo's config file, with its broker, topics and folders as the flags set them."""
    kafka = {"bootstrap_servers": bootstrap, "topics": f"{TOPIC},{LEGACY_TOPIC}"}
    storage = {"warehouse": str(root / "warehouse"), "checkpoints": str(root / "checkpoints")}
    ingest_toml(root).write_text(legacy.mapping_toml(LEGACY_TOPIC))
    return config_mod.load(ingest_toml(root), flags={"kafka": kafka, "storage": storage})


def _run(argv: list[str]) -> int:
    """A kafka-dedup command, run in this process: it joins the demo's Spark session."""
    from kafka_dedup.cli import main as cli

    return cli(argv)


def run_ingest(config: Config) -> None:
    """One available-now ingest run, through the command a user would type."""
    code = _run(
        ["--config", str(ingest_toml(Path(config.storage.warehouse).parent)), "ingest",
         "--bootstrap-servers", config.kafka.bootstrap_servers,
         "--topics", ",".join(config.kafka.topics),
         "--warehouse", config.storage.warehouse, "--checkpoints", config.storage.checkpoints,
         "--trigger", "available-now"]
    )  # fmt: skip
    if code != 0:
        raise UserError(f"the ingest failed with exit code {code}")


def print_summary(
    spark: SparkSession, config: Config, streams: dict[str, simulator.Stream]
) -> None:
    """Table sizes, quarantine by reason, copies by cause and late rows, against the truth."""
    warehouse = Warehouse.of(config, spark)
    count = {name: warehouse.read(name).count() for name in (DELIVERIES, EVENTS, ENTITY_STATE)}
    by_topic = {
        r.topic: r["count"] for r in warehouse.read(EVENTS).groupBy("topic").count().collect()
    }
    reasons_df = warehouse.read(QUARANTINE).select("reason")
    reasons = Counter(r.reason for r in reasons_df.collect())
    count[QUARANTINE] = sum(reasons.values())
    late = warehouse.read(tables.INGEST_BATCHES).agg(F.sum("late_rows")).collect()[0][0] or 0
    with open_engine(config, "spark", spark=spark) as engine:
        removed = queries.removed_by_cause(engine)
    truths = [simulator.summary(stream, 0) for stream in streams.values()]
    expected_events = sum(t["unique_events"] - t["late_unique_events"] for t in truths)
    verdict = "matches" if count[EVENTS] == expected_events else "DOES NOT match"
    _say("summary")
    _output(
        [
            f"records read (deliveries)      {count[DELIVERIES]:>8}",
            f"unique events (events)         {count[EVENTS]:>8}",
            *(f"  from {topic:<25} {by_topic.get(topic, 0):>8}" for topic in streams),
            f"keys (entity_state)            {count[ENTITY_STATE]:>8}",
            f"quarantined                    {count[QUARANTINE]:>8}",
            *(f"  {reason:<28} {n:>8}" for reason, n in sorted(reasons.items())),
            "duplicates removed, by cause:",
            *(f"  {cause:<52} {n:>6}" for cause, n in sorted(removed.items())),
            f"late rows (behind the watermark, counted) {late:>6}",
            f"ground truth: {expected_events} unique events before the nightly run: {verdict}",
            f"\ntables: {warehouse.root}/"
            "{deliveries,events,entity_state,quarantine,ingest_batches}",
        ]
    )


def run_downstream(root: Path, bootstrap: str) -> dict[str, Path]:
    """The reference consumer over the topic, naive and idempotent, crashing every N writes."""
    databases = {}
    for mode in ("naive", "idempotent"):
        database = root / "downstream" / f"{mode}.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        _say(f"downstream payments consumer, {mode} mode, crashing every {CRASH_EVERY} charges")
        code = _run(
            [
                "downstream", "--mode", mode, "--bootstrap-servers", bootstrap,
                "--topic", TOPIC, "--group", f"payments-{mode}", "--database", str(database),
                "--crash-after-process-every", str(CRASH_EVERY), "--restart-on-crash",
                "--stop-at-end",
            ]
        )  # fmt: skip
        if code != 0:
            raise UserError(f"the {mode} consumer failed with exit code {code}")
        databases[f"payments_{mode}"] = database
    return databases


def run_reconcile(root: Path, config: Config, databases: dict[str, Path]) -> int:
    """Reconcile the day against both charge databases; findings mean exit code 3."""
    sources = "".join(
        SOURCE_TOML.format(name=name, database=database) for name, database in databases.items()
    )
    toml = root / "reconcile.toml"
    toml.write_text(RECONCILE_TOML.format(reports=root / "reports", sources=sources))
    _say(f"nightly reconcile of {RUN_DATE} (config {toml})")
    return _run(
        ["--config", str(toml), "reconcile", "--date", RUN_DATE,
         "--warehouse", config.storage.warehouse]
    )  # fmt: skip


def print_findings(spark: SparkSession, config: Config, root: Path) -> bool:
    """Duplicate charges per service; True when naive has some and idempotent none."""
    findings_df = (
        Warehouse.of(config, spark)
        .read(tables.RECONCILIATION_FINDINGS)
        .where(F.col("run_date") == RUN_DATE)
    )
    counts = {
        (r.source, r.finding_type): r["count"]
        for r in findings_df.groupBy("source", "finding_type").count().collect()
    }
    naive = counts.get(("payments_naive", DUPLICATE), 0)
    idempotent = counts.get(("payments_idempotent", DUPLICATE), 0)
    unmerged = sum(n for (_, kind), n in counts.items() if kind == UNMERGED)
    _say("what the nightly run found")
    _output(
        [
            f"double-charged events, naive consumer:      {naive:>6}",
            f"double-charged events, idempotent consumer: {idempotent:>6}",
            f"late events merged by the run ({UNMERGED}):   {unmerged:>6}",
            f"report: {root / 'reports' / RUN_DATE / 'report.html'}",
            "try:    .venv/bin/kafka-dedup forensics summary --warehouse "
            + config.storage.warehouse,
        ]
    )
    return naive > 0 and idempotent == 0


def main(argv: list[str] | None = None) -> int:
    """The whole demo; 0 when the naive consumer double-charged and the idempotent one did not."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--legacy-events", type=int, default=1000, help=f"events to {LEGACY_TOPIC}")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    log.setup()
    root = args.root.resolve()
    try:
        _say(f"starting a fresh local Kafka broker (data under {root})")
        broker.stop(root / "broker")
        shutil.rmtree(root, ignore_errors=True)
        bootstrap = _start_broker(root, args.port)
        config = demo_config(root, bootstrap)
        streams = {
            TOPIC: simulator.generate(args.events, args.seed),
            LEGACY_TOPIC: legacy.reshape(simulator.generate(args.legacy_events, args.seed + 1)),
        }
        for topic in streams:
            publish.ensure_topic(bootstrap, topic, partitions=3)
        _say(
            f"producing the main phase: {args.events} events to {TOPIC} (JSON envelope), "
            f"{args.legacy_events} to {LEGACY_TOPIC} (id in $.meta.id, epoch-millis time, "
            f"key in a header; mapping in {ingest_toml(root)}), seed {args.seed}"
        )
        coordinates = {
            topic: publish.publish(stream, bootstrap, topic, (simulator.MAIN,))
            for topic, stream in streams.items()
        }
        spark = build_session(config)
        _say("ingesting both topics (available-now)")
        run_ingest(config)
        _say("producing the late phase (behind the watermark now)")
        for topic, stream in streams.items():
            coordinates[topic].update(publish.publish(stream, bootstrap, topic, (simulator.LATE,)))
            manifest = "manifest.jsonl" if topic == TOPIC else f"manifest-{topic}.jsonl"
            publish.write_manifest(root / manifest, stream, coordinates[topic], args.seed)
        _say("ingesting again")
        run_ingest(config)
        print_summary(spark, config, streams)
        databases = run_downstream(root, bootstrap)
        code = run_reconcile(root, config, databases)
        if code not in (0, 3):  # 3: findings above the alert threshold, expected here
            return code
        return 0 if print_findings(spark, config, root) else 1
    except UserError as exc:
        logger.error(f"demo: error: {exc}")
        return 2
    finally:
        broker.stop(root / "broker")


if __name__ == "__main__":
    sys.exit(main())
