"""Ingestion benchmark (not a test): throughput of the full pipeline against a plain append.

1. N events with 10% producer-retry duplicates are produced into a fresh topic first, and a
   small warm-up topic next to it.
2. Every pipeline below runs once on the warm-up topic (not recorded; the first run of a code
   path in a JVM is up to 2x slower while the JIT compiles it), then on the main topic, all
   in the same run and the same JVM, so only their ratios are compared:
   (a) plain: Kafka -> Delta append, no parsing and no dedup (available-now); it takes a few
       seconds, so one run of it varies by up to half: it runs --plain-runs times, spread
       over the bench (first, after (b), last), and every ratio divides by their median;
   (a2) naive ingestion: Kafka -> parse the envelope -> Delta append (the `deliveries` write
        alone: what a team without deduplication runs);
   (b) full: `run_ingest` (deliveries + quarantine, watermark dedup, MERGE into events and
       entity_state), available-now, with fresh checkpoints; its time is split into the
       batches of each query (from `ingest_batches`) and the rest (query start, table
       creation, pre-flight reads).
   (b') each --variant: (b) again with some Spark settings changed for that run only, to
       measure a candidate setting against the project's own in the same run.
3. The floor of (b): (a2) plus writing its other two outputs as plain appends (the valid
   deliveries into an events-shaped table, the latest row per key into a state-shaped table)
   with no dedup state and no MERGE. No implementation of this design can beat it.

Writes bench/ingest/results.json and results.md (date, commit, machine, load average).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import config as config_mod
from kafka_dedup import domain, eventlog, log, tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import parse
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import broker, publish, simulator
from kafka_dedup.session import build_session
from kafka_dedup.warehouse import Warehouse

HERE = Path(__file__).parent
TOPIC = "bench-orders"
WARMUP_TOPIC = "bench-warmup"
WARMUP_EVENTS = 100_000
MASTER = "local[2]"
TARGET_RATIO = 0.30

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _kafka_stream(spark: SparkSession, config: Config, topic: str):  # noqa: ANN202
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("includeHeaders", "true")
        .load()
    )


def _run_to_delta(stream_df, root: Path, name: str) -> float:  # noqa: ANN001
    """Run an available-now Delta sink query; returns seconds."""
    started = time.monotonic()
    query = (
        stream_df.writeStream.format("delta")
        .option("checkpointLocation", str(root / f"{name}-checkpoint"))
        .trigger(availableNow=True)
        .start(str(root / name))
    )
    query.awaitTermination()
    return time.monotonic() - started


def plain_append(spark: SparkSession, config: Config, root: Path, topic: str = TOPIC) -> float:
    """(a) Kafka -> Delta append with no parsing and no dedup; returns seconds."""
    return _run_to_delta(_kafka_stream(spark, config, topic), root, "plain")


def naive_ingestion(spark: SparkSession, config: Config, root: Path, topic: str = TOPIC) -> float:
    """(a2) Kafka -> envelope parse -> Delta append, no dedup; returns seconds."""
    parsed_df = _kafka_stream(spark, config, topic).transform(parse.parse_deliveries)
    return _run_to_delta(parsed_df, root, "naive")


def floor_extra_writes(spark: SparkSession, warehouse: str, root: Path) -> float:
    """What (b) writes beyond (a2), as plain appends from the (b) deliveries table: the valid
    deliveries shaped as events, and the latest row per key; returns seconds."""
    valid_df = eventlog.filter_valid(Warehouse(warehouse, "bench", spark).read(tables.DELIVERIES))
    started = time.monotonic()
    events_df = eventlog.to_events(valid_df, domain.MERGED_BY_STREAM)
    events_df.write.format("delta").save(str(root / "floor-events"))
    eventlog.latest_per_key(events_df).write.format("delta").save(str(root / "floor-state"))
    return time.monotonic() - started


def run_full(spark: SparkSession, config: Config, root: Path, topic: str = TOPIC):  # noqa: ANN201
    """(b) the full pipeline on fresh tables and checkpoints under root; returns seconds,
    the warehouse and the run's result."""
    warehouse = str(root / "warehouse")
    run_config = dataclasses.replace(
        config,
        kafka=dataclasses.replace(config.kafka, topics=(topic,)),
        storage=dataclasses.replace(
            config.storage, warehouse=warehouse, checkpoints=str(root / "checkpoints")
        ),
    )
    started = time.monotonic()
    result = run_ingest(spark, run_config)
    return time.monotonic() - started, warehouse, result


def batch_seconds(spark: SparkSession, warehouse: str) -> list[dict[str, Any]]:
    """Each batch of the (b) run, from its ingest_batches rows: query, batch id, rows read,
    seconds."""
    rows = (
        Warehouse(warehouse, "bench", spark)
        .read(tables.INGEST_BATCHES)
        .select("query", "batch_id", "records_read", "duration_ms")
        .orderBy("query", "batch_id")
        .collect()
    )
    return [
        {
            "query": row.query,
            "batch": row.batch_id,
            "rows": row.records_read,
            "seconds": round(row.duration_ms / 1000, 1),
        }
        for row in rows
    ]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """'name:key=value,key=value' -> (name, settings)."""
    name, _, settings = text.partition(":")
    pairs = (item.split("=", 1) for item in settings.split(",") if item)
    return name, {key.strip(): value.strip() for key, value in pairs}


def with_settings(spark: SparkSession, settings: dict[str, str]):  # noqa: ANN201
    """Set runtime Spark settings; returns a function that restores the previous ones."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)

    def restore() -> None:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)

    return restore


def full_figures(
    spark: SparkSession, config: Config, root: Path, records: int, events: int
) -> dict[str, Any]:
    seconds, warehouse, result = run_full(spark, config, root)
    assert result.totals.rows_inserted == events, result.totals
    batches = batch_seconds(spark, warehouse)
    in_batches = sum(b["seconds"] for b in batches)
    per_query = {
        q: round(sum(b["seconds"] for b in batches if b["query"] == q), 1)
        for q in sorted({b["query"] for b in batches})
    }
    return {
        "seconds": round(seconds, 1),
        "records_per_s": round(records / seconds),
        "query_seconds": per_query,
        "outside_batches_seconds": round(seconds - in_batches, 1),
        "batches": batches,
        "warehouse": warehouse,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--warmup-events", type=int, default=WARMUP_EVENTS)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="also run (b) with these Spark settings (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the results files")
    parser.add_argument(
        "--plain-runs", type=int, default=3, help="runs of (a); ratios use their median"
    )
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the broker on the way out
    log.setup()  # the run's progress lines, on stderr
    load_start = load_average()
    code = commit()  # the code that runs, whatever is committed meanwhile
    root = Path(tempfile.mkdtemp(prefix="kafka-dedup-bench-"))
    started_broker = broker.start(broker.free_port(), root / "broker")
    try:
        base = config_mod.load(environ={})
        config = dataclasses.replace(
            base,
            spark=dataclasses.replace(base.spark, master=MASTER, conf={"spark.ui.enabled": "false"}),
            kafka=dataclasses.replace(base.kafka, bootstrap_servers=started_broker.bootstrap_servers,
                                      topics=(TOPIC,)),
            storage=dataclasses.replace(base.storage, database="bench"),
        )  # fmt: skip
        mix = simulator.Mix(producer_retry=args.duplicates, app_resend=0, out_of_order=0, replay=0,
                            malformed=0, late_duplicate=0, late_unique=0)  # fmt: skip
        print(
            f"generating {args.events} events (+{args.duplicates:.0%} duplicates) ...", flush=True
        )
        stream = simulator.generate(args.events, seed=1, mix=mix)
        warmup = simulator.generate(args.warmup_events, seed=2, mix=mix)
        for topic in (TOPIC, WARMUP_TOPIC):
            publish.ensure_topic(started_broker.bootstrap_servers, topic, partitions=3)
        publish.publish(warmup, started_broker.bootstrap_servers, WARMUP_TOPIC, (simulator.MAIN,))
        t0 = time.monotonic()
        publish.publish(stream, started_broker.bootstrap_servers, TOPIC, (simulator.MAIN,))
        produce_s = time.monotonic() - t0
        records = len(stream.records)
        spark = build_session(config)
        cores = int(spark.sparkContext.defaultParallelism)
        print(f"warm-up: every pipeline once on {args.warmup_events} events ...", flush=True)
        plain_append(spark, config, root / "warmup-a", WARMUP_TOPIC)
        naive_ingestion(spark, config, root / "warmup-a2", WARMUP_TOPIC)
        _, warmup_warehouse, _ = run_full(spark, config, root / "warmup-b", WARMUP_TOPIC)
        floor_extra_writes(spark, warmup_warehouse, root / "warmup-b")
        load_measured = load_average()

        def plain_run() -> float:
            n = len(plain_runs) + 1
            print(f"(a) plain Kafka -> Delta append, run {n} of {args.plain_runs} ...", flush=True)
            return plain_append(spark, config, root / f"a{n}")

        plain_runs: list[float] = []
        plain_runs.append(plain_run())
        print("(a2) naive ingestion: parse and append ...", flush=True)
        naive_s = naive_ingestion(spark, config, root / "a2")
        print("(b) full pipeline ...", flush=True)
        full = full_figures(spark, config, root / "b", records, args.events)
        if args.plain_runs > 2:
            plain_runs.append(plain_run())
        print("floor of (b): its other writes as plain appends ...", flush=True)
        floor_s = naive_s + floor_extra_writes(spark, full.pop("warehouse"), root / "b")
        variant_figures = {}
        for n, (name, settings) in enumerate(variants):
            print(f"(b') variant {name}: {settings} ...", flush=True)
            restore = with_settings(spark, settings)
            try:
                figures = full_figures(spark, config, root / f"v{n}", records, args.events)
            finally:
                restore()
            figures.pop("warehouse")
            variant_figures[name] = {"settings": settings, **figures}
        while len(plain_runs) < args.plain_runs:
            plain_runs.append(plain_run())
        plain_s = statistics.median(plain_runs)
        for figures in variant_figures.values():
            figures["vs_plain"] = round(plain_s / figures["seconds"], 3)

        def rate(seconds: float) -> dict[str, float]:
            return {
                "seconds": round(seconds, 1),
                "records_per_s": round(records / seconds),
                "records_per_s_per_core": round(records / seconds / cores),
            }

        full_s = full["seconds"]
        results = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": code,
            "hardware": machine(),
            "master": MASTER,
            "cores_used": cores,
            "load_average_start": load_start,
            "load_average_measured": load_measured,
            "load_average_end": load_average(),
            "records_in_topic": records,
            "unique_events": args.events,
            "produce_seconds": round(produce_s, 1),
            "warmup_events": args.warmup_events,
            "plain_append": rate(plain_s),
            "plain_append_runs_seconds": [round(x, 1) for x in plain_runs],
            "naive_ingestion": rate(naive_s),
            "full_pipeline": {**full, **rate(full_s)},
            "full_pipeline_floor": rate(floor_s),
            "full_vs_plain": round(plain_s / full_s, 3),
            "full_vs_plain_range": [
                round(min(plain_runs) / full_s, 3),
                round(max(plain_runs) / full_s, 3),
            ],
            "full_vs_naive": round(naive_s / full_s, 3),
            "floor_vs_plain": round(plain_s / floor_s, 3),
            "floor_vs_plain_range": [
                round(min(plain_runs) / floor_s, 3),
                round(max(plain_runs) / floor_s, 3),
            ],
            "variants": variant_figures,
            "target_full_vs_plain": TARGET_RATIO,
            "target_met": plain_s / full_s >= TARGET_RATIO,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        write_results(results, args.out)
        print((args.out / "results.md").read_text())
        return 0
    finally:
        broker.stop(root / "broker")
        shutil.rmtree(root, ignore_errors=True)


def write_results(results: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    hw, full = results["hardware"], results["full_pipeline"]
    cores = results["cores_used"]

    def speed(figures: dict[str, Any]) -> str:
        per_core = figures.get("records_per_s_per_core", round(figures["records_per_s"] / cores))
        return (
            f"{figures['records_per_s']} records/s, {per_core} records/s per core "
            f"({figures['seconds']} s)"
        )

    per_query = ", ".join(f"{q} query {s} s" for q, s in full["query_seconds"].items())
    runs = results["plain_append_runs_seconds"]
    spread = " (first, after (b), last)" if len(runs) == 3 else ""

    def ratio_range(name: str) -> str:
        low, high = results[name]
        return f"{low} to {high}"

    verdict = "met" if results["target_met"] else "not met"
    lines = [
        "# Ingestion benchmark",
        "",
        f"Run {results['when']} at commit {results['commit']} on {hw['cpu']}, {hw['cores']} "
        f"cores, {hw['memory_gib']} GiB, Python {hw['python']}, Spark {hw['spark']}, Delta "
        f"{hw['delta']}, `{results['master']}`; load average (1, 5, 15 min) "
        f"{results['load_average_start']} at the start, {results['load_average_measured']} "
        f"when the measured runs began, {results['load_average_end']} at the end. Every "
        f"pipeline ran once on a {results['warmup_events']}-event warm-up topic first; all "
        "figures below come from this one run and JVM.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| records in topic ({results['unique_events']} unique + duplicates) | "
        f"{results['records_in_topic']} |",
        f"| (a) plain Kafka -> Delta append, median of {len(runs)} run(s){spread} | "
        f"{speed(results['plain_append'])}; the runs took "
        f"{', '.join(f'{x} s' for x in runs)} |",
        f"| (a2) naive ingestion: parse + append (the deliveries write alone) | "
        f"{speed(results['naive_ingestion'])} |",
        f"| (b) full pipeline (deliveries, dedup, MERGEs) | {speed(full)} |",
        f"| (b) split | {per_query}, outside the batches {full['outside_batches_seconds']} s |",
        f"| (b) / (a) | {results['full_vs_plain']} (target >= "
        f"{results['target_full_vs_plain']}: {verdict}); against the fastest and the slowest "
        f"run of (a): {ratio_range('full_vs_plain_range')} |",
        f"| (b) / (a2) | {results['full_vs_naive']} |",
        f"| floor of (b): (a2) + its events and state rows as plain appends | "
        f"{speed(results['full_pipeline_floor'])} |",
        f"| floor / (a): the best (b) / (a) any implementation could reach | "
        f"{results['floor_vs_plain']}; against the fastest and the slowest run of (a): "
        f"{ratio_range('floor_vs_plain_range')} |",
    ]
    for name, figures in results["variants"].items():
        settings = ", ".join(f"`{k}={v}`" for k, v in figures["settings"].items())
        split = ", ".join(f"{q} {s} s" for q, s in figures["query_seconds"].items())
        lines.append(
            f"| (b') {name}: {settings} | {speed(figures)}; {split}, outside "
            f"{figures['outside_batches_seconds']} s; / (a) = {figures['vs_plain']} |"
        )
    lines += ["", "Batches of (b):", "", "| query | batch | rows read | seconds |", "| --- | --- | --- | --- |"]  # fmt: skip
    for batch in full["batches"]:
        lines.append(f"| {batch['query']} | {batch['batch']} | {batch['rows']} | {batch['seconds']} |")  # fmt: skip
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
