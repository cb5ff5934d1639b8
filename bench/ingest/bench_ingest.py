"""Ingestion benchmark (not a test): throughput with and without dedup, MERGE cost vs table size.

1. N events with 10% producer-retry duplicates are produced into a fresh topic first, and a
   small warm-up topic next to it.
2. Every pipeline below runs once on the warm-up topic (not recorded; the first run of a code
   path in a JVM is up to 2x slower while the JIT compiles it), then on the main topic:
   (a) plain: Kafka -> Delta append, no parsing and no dedup (available-now);
   (a2) naive ingestion: Kafka -> parse the envelope -> Delta append (the `deliveries` write
        alone: what a team without deduplication runs);
   (b) full: `run_ingest` (deliveries + quarantine, watermark dedup, MERGE into events and
       entity_state), available-now, with fresh checkpoints.
3. The floor of (b): (a2) plus writing its other two outputs as plain appends (the valid
   deliveries into an events-shaped table, the latest row per key into a state-shaped table)
   with no dedup state and no MERGE. No implementation of this design can beat it.
4. MERGE time of one batch of new events into `events` holding 1M and then 10M rows, at the
   same rows per event date (the table grows by days; a batch touches one day).

Writes bench/ingest/results.json and results.md (with the hardware).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import domain, eventlog, log, tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import parse
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import broker, publish, simulator
from kafka_dedup.session import build_session
from kafka_dedup.warehouse import Warehouse

HERE = Path(__file__).parent
ROWS_PER_DAY = 100_000
MERGE_BATCH = 20_000
TOPIC = "bench-orders"
WARMUP_TOPIC = "bench-warmup"
WARMUP_EVENTS = 100_000

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import machine  # noqa: E402


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


def batch_seconds(spark: SparkSession, warehouse: str) -> dict[str, float]:
    """Seconds per query of the (b) run, from its ingest_batches rows."""
    rows = (
        Warehouse(warehouse, "bench", spark)
        .read(tables.INGEST_BATCHES)
        .groupBy("query")
        .agg(F.sum("duration_ms").alias("ms"))
        .collect()
    )
    return {row.query: round(row.ms / 1000, 1) for row in rows}


def synthetic_events(spark: SparkSession, rows: int, first_day: date, merged_by: str):  # noqa: ANN201
    """`rows` events spread over rows / ROWS_PER_DAY days starting at first_day."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc)
    seconds_per_row = 86_400 / ROWS_PER_DAY
    return (
        spark.range(rows)
        .select(
            F.format_string("order-%09d", F.col("id") % (rows // 3 + 1)).alias("key"),
            F.sha2(F.concat(F.lit(merged_by), F.col("id").cast("string")), 256).alias("event_id"),
            F.lit("order.paid").alias("event_type"),
            (F.lit(int(start.timestamp())) + F.col("id") * seconds_per_row)
            .cast("timestamp")
            .alias("event_time"),
            F.lit(None).cast("date").alias("event_date"),
            F.lit(2).cast("long").alias("sequence"),
            F.lit("checkout-1").alias("producer_id"),
            F.lit('{"amount":42.5}').alias("payload"),
            F.lit(TOPIC).alias("topic"),
            (F.col("id") % 3).cast("int").alias("partition"),
            F.col("id").alias("offset"),
            F.current_timestamp().alias("kafka_timestamp"),
            F.current_timestamp().alias("ingested_at"),
            F.lit(merged_by).alias("merged_by"),
        )
        .withColumn("event_date", F.to_date("event_time"))
    )


def merge_seconds(spark: SparkSession, warehouse: str, table_rows: int) -> float:
    """Build `events` with table_rows rows, then time one MERGE of a batch into its last day."""
    lake = Warehouse(warehouse, "bench", spark)
    path = lake.location(tables.EVENTS)
    shutil.rmtree(path, ignore_errors=True)
    lake.ensure(tables.EVENTS)
    (
        synthetic_events(spark, table_rows, date(2026, 1, 1), "table")
        .write.format("delta")
        .mode("append")
        .save(path)
    )
    days = table_rows // ROWS_PER_DAY
    last_day = date.fromordinal(date(2026, 1, 1).toordinal() + days - 1)
    batch_df = synthetic_events(spark, MERGE_BATCH, last_day, "batch").persist()
    batch_df.count()
    started = time.monotonic()
    eventlog.merge_events(lake.table(tables.EVENTS), batch_df, [last_day])
    elapsed = time.monotonic() - started
    batch_df.unpersist()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--small-table", type=int, default=1_000_000)
    parser.add_argument("--large-table", type=int, default=10_000_000)
    args = parser.parse_args()
    log.setup()  # the run's progress lines, on stderr
    root = Path(tempfile.mkdtemp(prefix="kafka-dedup-bench-"))
    started_broker = broker.start(broker.free_port(), root / "broker")
    try:
        base = config_mod.load(environ={})
        config = dataclasses.replace(
            base,
            spark=dataclasses.replace(base.spark, master="local[2]", conf={"spark.ui.enabled": "false"}),
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
        warmup = simulator.generate(WARMUP_EVENTS, seed=2, mix=mix)
        for topic in (TOPIC, WARMUP_TOPIC):
            publish.ensure_topic(started_broker.bootstrap_servers, topic, partitions=3)
        publish.publish(warmup, started_broker.bootstrap_servers, WARMUP_TOPIC, (simulator.MAIN,))
        t0 = time.monotonic()
        publish.publish(stream, started_broker.bootstrap_servers, TOPIC, (simulator.MAIN,))
        produce_s = time.monotonic() - t0
        records = len(stream.records)
        spark = build_session(config)
        print(f"warm-up: every pipeline once on {WARMUP_EVENTS} events ...", flush=True)
        plain_append(spark, config, root / "warmup-a", WARMUP_TOPIC)
        naive_ingestion(spark, config, root / "warmup-a2", WARMUP_TOPIC)
        _, warmup_warehouse, _ = run_full(spark, config, root / "warmup-b", WARMUP_TOPIC)
        floor_extra_writes(spark, warmup_warehouse, root / "warmup-b")
        print("(a) plain Kafka -> Delta append ...", flush=True)
        plain_s = plain_append(spark, config, root / "a")
        print("(a2) naive ingestion: parse and append ...", flush=True)
        naive_s = naive_ingestion(spark, config, root / "a2")
        print("(b) full pipeline ...", flush=True)
        full_s, warehouse, result = run_full(spark, config, root / "b")
        assert result.totals.rows_inserted == args.events, result.totals
        per_query = batch_seconds(spark, warehouse)
        print("floor of (b): its other writes as plain appends ...", flush=True)
        floor_s = naive_s + floor_extra_writes(spark, warehouse, root / "b")
        print("MERGE vs table size ...", flush=True)
        merge_warehouse = str(root / "merge-warehouse")
        small = merge_seconds(spark, merge_warehouse, args.small_table)
        large = merge_seconds(spark, merge_warehouse, args.large_table)

        def rate(seconds: float) -> dict[str, float]:
            return {"seconds": round(seconds, 1), "events_per_s": round(records / seconds)}

        results = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "hardware": {**machine(), "spark": "4.0.1", "delta": "4.0.1"},
            "records_in_topic": records,
            "unique_events": args.events,
            "produce_seconds": round(produce_s, 1),
            "warmup_events": WARMUP_EVENTS,
            "plain_append": rate(plain_s),
            "naive_ingestion": rate(naive_s),
            "full_pipeline": rate(full_s),
            "full_pipeline_query_seconds": per_query,
            "full_pipeline_floor": rate(floor_s),
            "full_vs_plain": round(plain_s / full_s, 3),
            "full_vs_naive": round(naive_s / full_s, 3),
            "floor_vs_plain": round(plain_s / floor_s, 3),
            "merge_batch_rows": MERGE_BATCH,
            "merge_seconds": {f"{args.small_table}": round(small, 2), f"{args.large_table}": round(large, 2)},
            "merge_growth": round(large / small, 2),
            "targets": {"full_vs_plain >= 0.5": plain_s / full_s >= 0.5,
                        "merge_growth < 2": large / small < 2},
        }  # fmt: skip
        write_results(results)
        print(json.dumps(results, indent=2))
        return 0
    finally:
        broker.stop(root / "broker")
        shutil.rmtree(root, ignore_errors=True)


def write_results(results: dict) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    hw = results["hardware"]
    per_query = ", ".join(
        f"{q} query {sec} s" for q, sec in sorted(results["full_pipeline_query_seconds"].items())
    )
    lines = [
        "# Ingestion benchmark",
        "",
        f"Run {results['when']} on {hw['cpu']}, {hw['cores']} cores, {hw['memory_gib']} GiB, "
        f"Python {hw['python']}, Spark {hw['spark']}, Delta {hw['delta']}, `local[2]`; every "
        f"pipeline ran once on a {results['warmup_events']}-event warm-up topic first.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| records in topic ({results['unique_events']} unique + duplicates) | {results['records_in_topic']} |",
        f"| (a) plain Kafka -> Delta append | {results['plain_append']['events_per_s']} events/s ({results['plain_append']['seconds']} s) |",
        f"| (a2) naive ingestion: parse + append (the deliveries write alone) | {results['naive_ingestion']['events_per_s']} events/s ({results['naive_ingestion']['seconds']} s) |",
        f"| (b) full pipeline (deliveries, dedup, MERGEs) | {results['full_pipeline']['events_per_s']} events/s ({results['full_pipeline']['seconds']} s: {per_query}) |",
        f"| (b) / (a) | {results['full_vs_plain']} (target >= 0.5) |",
        f"| (b) / (a2) | {results['full_vs_naive']} |",
        f"| floor of (b): (a2) + its events and state rows as plain appends | {results['full_pipeline_floor']['events_per_s']} events/s ({results['full_pipeline_floor']['seconds']} s) |",
        f"| floor / (a): the best (b) / (a) any implementation could reach | {results['floor_vs_plain']} |",
    ]  # fmt: skip
    for size, seconds in results["merge_seconds"].items():
        lines.append(
            f"| MERGE of {results['merge_batch_rows']} rows into events of {size} rows | {seconds} s |"
        )
    lines.append(f"| MERGE growth for 10x the table | {results['merge_growth']}x (target < 2x) |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
