"""`make demo`: local broker, a seeded stream with every duplicate cause, ingestion, a summary.

Runs from scratch each time under data/demo/ (the previous demo's broker and tables are
removed first), so the same seed always gives the same figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from collections import Counter
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.errors import UserError
from kafka_dedup.ingest.job import IngestResult, run_ingest
from kafka_dedup.kafka import broker, publish, simulator
from kafka_dedup.session import build_session

TOPIC = "orders"
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
    print(f"\n== {text}", flush=True)


def _start_broker(root: Path, port: int) -> str:
    data_dir = root / "broker"
    if not broker.port_free(port):
        port = broker.free_port()
        print(f"port {DEFAULT_PORT} is taken: the demo broker uses {port} instead")
    return broker.start(port, data_dir).bootstrap_servers


def demo_config(root: Path, bootstrap: str) -> Config:
    base = config_mod.load()
    return dataclasses.replace(
        base,
        kafka=dataclasses.replace(base.kafka, bootstrap_servers=bootstrap, topics=(TOPIC,)),
        storage=dataclasses.replace(
            base.storage,
            warehouse=str(root / "warehouse"),
            checkpoints=str(root / "checkpoints"),
        ),
    )


def copies_by_cause(spark: SparkSession, warehouse: str) -> dict[str, int]:
    """Valid deliveries not kept in events, by likely cause (read from the tables alone)."""
    deliveries_df = spark.read.format("delta").load(tables.location(warehouse, tables.DELIVERIES))
    events_df = spark.read.format("delta").load(tables.location(warehouse, tables.EVENTS))
    kept_df = events_df.select(
        "key", "event_id", F.col("topic").alias("k_topic"), F.col("partition").alias("k_part"),
        F.col("offset").alias("k_offset"), F.col("producer_id").alias("k_producer"),
    )  # fmt: skip
    kept_raw_df = deliveries_df.select(
        F.col("topic").alias("k_topic"), F.col("partition").alias("k_part"),
        F.col("offset").alias("k_offset"), F.col("raw_value").alias("k_raw"),
    )  # fmt: skip
    copies_df = (
        deliveries_df.where(F.col("parse_error").isNull())
        .join(kept_df, ["key", "event_id"], how="left")
        .join(kept_raw_df, ["k_topic", "k_part", "k_offset"], how="left")
        .where(
            F.col("k_offset").isNull()
            | ~((F.col("topic") == F.col("k_topic")) & (F.col("partition") == F.col("k_part")))
            | (F.col("offset") != F.col("k_offset"))
        )
    )
    cause = (
        F.when(F.col("k_offset").isNull(), "late: not yet in events (nightly run merges it)")
        .when(F.col("raw_value") == F.col("k_raw"), "same bytes again (producer retry / replay)")
        .otherwise("application resend (same event_id, new metadata)")
    )
    return {r.cause: r["count"] for r in copies_df.groupBy(cause.alias("cause")).count().collect()}


def print_summary(
    spark: SparkSession, config: Config, stream: simulator.Stream, runs: list[IngestResult]
) -> None:
    warehouse = config.storage.warehouse
    count = {
        name: spark.read.format("delta").load(tables.location(warehouse, name)).count()
        for name in (tables.DELIVERIES, tables.EVENTS, tables.ENTITY_STATE)
    }
    quarantine_df = spark.read.format("delta").load(tables.location(warehouse, tables.QUARANTINE))
    reasons = Counter(r.reason for r in quarantine_df.select("reason").collect())
    count[tables.QUARANTINE] = sum(reasons.values())
    late = sum(run.totals.late_rows for run in runs)
    truth = simulator.summary(stream, 0)
    _say("summary")
    print(f"records read (deliveries)      {count[tables.DELIVERIES]:>8}")
    print(f"unique events (events)         {count[tables.EVENTS]:>8}")
    print(f"keys (entity_state)            {count[tables.ENTITY_STATE]:>8}")
    print(f"quarantined                    {count[tables.QUARANTINE]:>8}")
    for reason, n in sorted(reasons.items()):
        print(f"  {reason:<28} {n:>8}")
    print("duplicates removed, by cause:")
    for cause, n in sorted(copies_by_cause(spark, warehouse).items()):
        print(f"  {cause:<52} {n:>6}")
    print(f"late rows (behind the watermark, counted) {late:>6}")
    expected_events = truth["unique_events"] - truth["late_unique_events"]
    verdict = "matches" if count[tables.EVENTS] == expected_events else "DOES NOT match"
    print(f"ground truth: {expected_events} unique events before the nightly run: {verdict}")
    print(f"\ntables: {warehouse}/{{deliveries,events,entity_state,quarantine,ingest_batches}}")


def run_downstream(root: Path, bootstrap: str) -> dict[str, Path]:
    """The reference consumer over the topic, naive and idempotent, crashing every N writes."""
    from kafka_dedup.cli import main as cli

    databases = {}
    for mode in ("naive", "idempotent"):
        database = root / "downstream" / f"{mode}.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        _say(f"downstream payments consumer, {mode} mode, crashing every {CRASH_EVERY} charges")
        code = cli(
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
    from kafka_dedup.cli import main as cli

    sources = "".join(
        SOURCE_TOML.format(name=name, database=database) for name, database in databases.items()
    )
    toml = root / "reconcile.toml"
    toml.write_text(RECONCILE_TOML.format(reports=root / "reports", sources=sources))
    _say(f"nightly reconcile of {RUN_DATE} (config {toml})")
    return cli(
        ["--config", str(toml), "reconcile", "--date", RUN_DATE,
         "--warehouse", config.storage.warehouse]
    )  # fmt: skip


def print_findings(spark: SparkSession, config: Config, root: Path) -> bool:
    """Duplicate charges per service; True when naive has some and idempotent none."""
    path = tables.location(config.storage.warehouse, tables.RECONCILIATION_FINDINGS)
    findings_df = spark.read.format("delta").load(path).where(F.col("run_date") == RUN_DATE)
    counts = {
        (r.source, r.finding_type): r["count"]
        for r in findings_df.groupBy("source", "finding_type").count().collect()
    }
    naive = counts.get(("payments_naive", "DUPLICATE"), 0)
    idempotent = counts.get(("payments_idempotent", "DUPLICATE"), 0)
    _say("what the nightly run found")
    print(f"double-charged events, naive consumer:      {naive:>6}")
    print(f"double-charged events, idempotent consumer: {idempotent:>6}")
    unmerged = sum(n for (_, kind), n in counts.items() if kind == "UNMERGED")
    print(f"late events merged by the run (UNMERGED):   {unmerged:>6}")
    print(f"report: {root / 'reports' / RUN_DATE / 'report.html'}")
    print(f"try:    .venv/bin/kafka-dedup forensics summary --warehouse {config.storage.warehouse}")
    return naive > 0 and idempotent == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        _say(f"starting a fresh local Kafka broker (data under {root})")
        broker.stop(root / "broker")
        shutil.rmtree(root, ignore_errors=True)
        bootstrap = _start_broker(root, args.port)
        config = demo_config(root, bootstrap)
        stream = simulator.generate(args.events, args.seed)
        publish.ensure_topic(bootstrap, TOPIC, partitions=3)
        _say(f"producing the main phase: {args.events} events, seed {args.seed}")
        coordinates = publish.publish(stream, bootstrap, TOPIC, (simulator.MAIN,))
        spark = build_session(config)
        _say("ingesting (available-now)")
        runs = [run_ingest(spark, config)]
        _say("producing the late phase (behind the watermark now)")
        coordinates.update(publish.publish(stream, bootstrap, TOPIC, (simulator.LATE,)))
        publish.write_manifest(root / "manifest.jsonl", stream, coordinates, args.seed)
        _say("ingesting again")
        runs.append(run_ingest(spark, config))
        print_summary(spark, config, stream, runs)
        databases = run_downstream(root, bootstrap)
        code = run_reconcile(root, config, databases)
        if code not in (0, 3):  # 3: findings above the alert threshold, expected here
            return code
        return 0 if print_findings(spark, config, root) else 1
    except UserError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    finally:
        broker.stop(root / "broker")


if __name__ == "__main__":
    sys.exit(main())
