"""Ingestion benchmark (not a test): throughput with and without dedup, MERGE cost vs table size.

1. N events with 10% producer-retry duplicates are produced into a fresh topic first.
2. (a) plain: Kafka -> Delta append, no parsing and no dedup (available-now).
   (b) full: `run_ingest` (deliveries + quarantine, watermark dedup, MERGE into events and
   entity_state), available-now, on the same topic with fresh checkpoints.
3. MERGE time of one batch of new events into `events` holding 1M and then 10M rows, at the
   same rows per event date (the table grows by days; a batch touches one day).

Writes bench/ingest/results.json and results.md (with the hardware).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import merge
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import broker, publish, simulator
from kafka_dedup.session import build_session

HERE = Path(__file__).parent
ROWS_PER_DAY = 100_000
MERGE_BATCH = 20_000
TOPIC = "bench-orders"


def hardware() -> dict[str, str | int]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "memory_gib": mem_gib,
            "python": platform.python_version(), "spark": "4.0.1", "delta": "4.0.1"}  # fmt: skip


def plain_append(spark: SparkSession, config: Config, root: Path) -> float:
    """(a) Kafka -> Delta append with no parsing and no dedup; returns seconds."""
    started = time.monotonic()
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.kafka.bootstrap_servers)
        .option("subscribe", TOPIC)
        .option("startingOffsets", "earliest")
        .load()
        .writeStream.format("delta")
        .option("checkpointLocation", str(root / "plain-checkpoint"))
        .trigger(availableNow=True)
        .start(str(root / "plain-table"))
    )
    query.awaitTermination()
    return time.monotonic() - started


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
    path = tables.location(warehouse, tables.EVENTS)
    shutil.rmtree(path, ignore_errors=True)
    tables.ensure_table(spark, warehouse, "bench", tables.EVENTS)
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
    merge.merge_events(DeltaTable.forPath(spark, path), batch_df, [last_day])
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
    root = Path(tempfile.mkdtemp(prefix="kafka-dedup-bench-"))
    started_broker = broker.start(broker.free_port(), root / "broker")
    try:
        base = config_mod.load(environ={})
        config = dataclasses.replace(
            base,
            spark=dataclasses.replace(base.spark, master="local[2]", conf={"spark.ui.enabled": "false"}),
            kafka=dataclasses.replace(base.kafka, bootstrap_servers=started_broker.bootstrap_servers,
                                      topics=(TOPIC,)),
            storage=dataclasses.replace(base.storage, warehouse=str(root / "warehouse"),
                                        checkpoints=str(root / "checkpoints"), database="bench"),
        )  # fmt: skip
        mix = simulator.Mix(producer_retry=args.duplicates, app_resend=0, out_of_order=0, replay=0,
                            malformed=0, late_duplicate=0, late_unique=0)  # fmt: skip
        print(
            f"generating {args.events} events (+{args.duplicates:.0%} duplicates) ...", flush=True
        )
        stream = simulator.generate(args.events, seed=1, mix=mix)
        publish.ensure_topic(started_broker.bootstrap_servers, TOPIC, partitions=3)
        t0 = time.monotonic()
        publish.publish(stream, started_broker.bootstrap_servers, TOPIC, (simulator.MAIN,))
        produce_s = time.monotonic() - t0
        records = len(stream.records)
        spark = build_session(config)
        print("(a) plain Kafka -> Delta append ...", flush=True)
        plain_s = plain_append(spark, config, root)
        print("(b) full pipeline ...", flush=True)
        t0 = time.monotonic()
        result = run_ingest(spark, config, echo=True)
        full_s = time.monotonic() - t0
        assert result.totals.rows_inserted == args.events, result.totals
        print("MERGE vs table size ...", flush=True)
        warehouse = str(root / "merge-warehouse")
        small = merge_seconds(spark, warehouse, args.small_table)
        large = merge_seconds(spark, warehouse, args.large_table)
        results = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "hardware": hardware(),
            "records_in_topic": records,
            "unique_events": args.events,
            "produce_seconds": round(produce_s, 1),
            "plain_append": {"seconds": round(plain_s, 1), "events_per_s": round(records / plain_s)},
            "full_pipeline": {"seconds": round(full_s, 1), "events_per_s": round(records / full_s)},
            "full_vs_plain": round(plain_s / full_s, 3),
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
    lines = [
        "# Ingestion benchmark",
        "",
        f"Run {results['when']} on {hw['cpu']}, {hw['cores']} cores, {hw['memory_gib']} GiB, "
        f"Python {hw['python']}, Spark {hw['spark']}, Delta {hw['delta']}, `local[2]`.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| records in topic ({results['unique_events']} unique + duplicates) | {results['records_in_topic']} |",
        f"| (a) plain Kafka -> Delta append | {results['plain_append']['events_per_s']} events/s ({results['plain_append']['seconds']} s) |",
        f"| (b) full pipeline (deliveries, dedup, MERGEs) | {results['full_pipeline']['events_per_s']} events/s ({results['full_pipeline']['seconds']} s) |",
        f"| (b) / (a) | {results['full_vs_plain']} (target >= 0.5) |",
    ]  # fmt: skip
    for size, seconds in results["merge_seconds"].items():
        lines.append(
            f"| MERGE of {results['merge_batch_rows']} rows into events of {size} rows | {seconds} s |"
        )
    lines.append(f"| MERGE growth for 10x the table | {results['merge_growth']}x (target < 2x) |")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
