"""Forensics benchmark (not a test): cold command-to-answer time on 1M deliveries, per engine.

1. Generate (once, with Spark) a warehouse of the project's exact schemas: 900,000 unique
   events over 100,000 keys, 90,000 duplicate copies (half producer retries, half
   application resends, 0-10 min after the first copy) and 10,000 malformed records:
   1,000,000 deliveries; events holds the first copies (partitioned by event_date),
   entity_state has 9 versions (one per sequence), quarantine the malformed records.
2. Time `kafka-dedup forensics summary`, `trace --key` and `trace --event-id`, each in a new
   process (Python, imports, engine start, query, output), RUNS times per engine, and check
   that both engines print the same JSON.

Writes bench/forensics/results.json and results.md (with the hardware and load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.session import build_session
from kafka_dedup.warehouse import Warehouse

HERE = Path(__file__).parent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402

DEFAULT_WAREHOUSE = Path("build/bench/forensics-warehouse")
KAFKA_DEDUP = str(Path(sys.executable).with_name("kafka-dedup"))
UNIQUE, KEYS, MALFORMED = 900_000, 100_000, 10_000
DUPLICATE_EVERY = 10  # every 10th event has a second copy
TOPIC, PARTITIONS = "orders", 6
START = datetime(2026, 11, 25, 8, tzinfo=timezone.utc)
EVENT_STEP_MS = 20  # 900k events over 5 hours
RUNS = 3
TARGET_S = 2.0  # DuckDB, cold command to answer (the forensics issue)
TRACE_KEY = "order-000003"  # id 3 is duplicated (3 % 10 == 3): a producer retry


def at_ms(ms: Column) -> Column:
    return F.timestamp_millis(F.lit(int(START.timestamp() * 1000)) + ms)


def with_envelope(ids_df: DataFrame) -> DataFrame:
    """Envelope fields of logical event `id`: key, event_id, sequence, times, producer."""
    key = F.format_string("order-%06d", F.col("id") % KEYS)
    payload = F.to_json(
        F.struct((F.col("id") % 50_000 / 100).alias("amount"), F.lit("EUR").alias("currency"))
    )
    return ids_df.select(
        "id",
        key.alias("key"),
        F.md5(F.col("id").cast("string")).alias("event_id"),
        F.lit("order.paid").alias("event_type"),
        at_ms(F.col("id") * EVENT_STEP_MS).alias("event_time"),
        (F.floor(F.col("id") / KEYS) + 1).cast("long").alias("sequence"),
        F.format_string("checkout-%d", F.col("id") % 3 + 1).alias("producer_id"),
        payload.alias("payload"),
        (F.abs(F.hash(key)) % PARTITIONS).cast("int").alias("partition"),
    )


def to_deliveries(envelope_df: DataFrame, offset: Column, delay_ms: Column) -> DataFrame:
    """Valid deliveries (the deliveries schema) of envelopes, at an offset and a Kafka delay."""
    value = F.to_json(
        F.struct("event_id", "event_type", "event_time", "sequence", "producer_id", "payload")
    )
    kafka_ts = at_ms(F.col("id") * EVENT_STEP_MS + delay_ms)
    return envelope_df.select(
        F.lit(TOPIC).alias("topic"), "partition", offset.cast("long").alias("offset"),
        kafka_ts.alias("kafka_timestamp"), F.lit(0).alias("kafka_timestamp_type"),
        F.encode("key", "UTF-8").alias("raw_key"), F.encode(value, "UTF-8").alias("raw_value"),
        F.array().cast(tables.HEADERS_TYPE).alias("headers"), "key", "event_id", "event_type",
        "event_time", "sequence", "producer_id", "payload",
        F.lit(None).cast("string").alias("parse_error"),
        F.lit(None).cast("string").alias("parse_error_detail"),
        (kafka_ts + F.expr("INTERVAL 2 SECONDS")).alias("ingested_at"),
        (F.col("id") % 100).cast("long").alias("ingest_batch_id"),
        F.lit("bench-query").alias("ingest_query_id"),
    )  # fmt: skip


def malformed_deliveries(spark: SparkSession) -> DataFrame:
    rows_df = spark.range(MALFORMED).select(
        F.lit(TOPIC).alias("topic"), (F.col("id") % PARTITIONS).cast("int").alias("partition"),
        (F.lit(10 * UNIQUE) + F.col("id")).alias("offset"),
        at_ms(F.col("id") * 1800).alias("kafka_timestamp"),
        F.encode(F.format_string("order-%06d", F.col("id") % KEYS), "UTF-8").alias("raw_key"),
        F.encode(F.lit('{"event_id": '), "UTF-8").alias("raw_value"),
    )  # fmt: skip
    empty = {f.name: F.lit(None).cast(f.dataType) for f in tables.DELIVERIES_SCHEMA.fields}
    filled = {
        **empty,
        "kafka_timestamp_type": F.lit(0),
        "headers": F.array().cast(tables.HEADERS_TYPE),
        "parse_error": F.lit("invalid_json"),
        "ingested_at": F.col("kafka_timestamp"),
    }
    columns = [F.col(n) if n in rows_df.columns else filled[n] for n in empty]
    return rows_df.select(*[c.alias(n) for c, n in zip(columns, empty, strict=True)])


def save(
    frame: DataFrame, warehouse: Path, name: str, partition_by: list[str] | None = None
) -> None:
    """Overwrite: each call is one Delta version."""
    writer = frame.write.format("delta").mode("overwrite").partitionBy(*(partition_by or []))
    writer.save(Warehouse(str(warehouse), "bench").location(name))


def generate(spark: SparkSession, warehouse: Path) -> None:
    """Write the five tables with Spark (see the module docstring)."""
    envelopes_df = with_envelope(spark.range(UNIQUE)).cache()
    originals_df = to_deliveries(envelopes_df, F.col("id") * 2, F.lit(50))
    copied_df = envelopes_df.where(F.col("id") % DUPLICATE_EVERY == 3)
    # ids 13, 33, ... resend from another producer instance; 3, 23, ... repeat the same bytes
    resend = F.col("id") % (2 * DUPLICATE_EVERY) == 13
    copied_df = copied_df.withColumn(
        "producer_id",
        F.when(resend, F.regexp_replace("producer_id", r"-\d$", "-9")).otherwise(
            F.col("producer_id")
        ),
    )
    copies_df = to_deliveries(copied_df, F.col("id") * 2 + 1, (F.col("id") % 600) * 1000 + 50)
    deliveries_df = originals_df.unionByName(copies_df).unionByName(malformed_deliveries(spark))
    save(deliveries_df.repartition(8), warehouse, tables.DELIVERIES)
    events_df = originals_df.select(
        *[F.col(c) for c in ("key", "event_id", "event_type", "event_time")],
        F.to_date("event_time").alias("event_date"),
        "sequence", "producer_id", "payload", "topic", "partition", "offset", "kafka_timestamp",
        F.col("ingested_at"), F.lit("stream").alias("merged_by"),
    )  # fmt: skip
    save(events_df, warehouse, tables.EVENTS, partition_by=["event_date"])
    for sequence in range(1, UNIQUE // KEYS + 1):  # one version per sequence: the key's latest
        state_df = events_df.where(F.col("sequence") == sequence).select(
            *tables.ENTITY_STATE_SCHEMA.fieldNames()[:-1], F.col("ingested_at").alias("updated_at")
        )
        save(state_df, warehouse, tables.ENTITY_STATE)
    quarantine_df = malformed_deliveries(spark).select(
        "topic", "partition", "offset", "kafka_timestamp", "raw_key", "raw_value",
        F.lit("invalid_json").alias("reason"), F.lit("truncated JSON").alias("detail"),
        F.col("ingested_at").alias("quarantined_at"),
    )  # fmt: skip
    save(quarantine_df, warehouse, tables.QUARANTINE)
    envelopes_df.unpersist()


def timed(args: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([KAFKA_DEDUP, *args], capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"kafka-dedup {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


def measure(warehouse: Path, runs: int) -> dict[str, object]:
    """Cold runs of each query per engine, and whether both engines printed the same."""
    event_id = subprocess.run(
        [KAFKA_DEDUP, "sql", "--warehouse", str(warehouse), "--format", "csv",
         f"SELECT event_id FROM duplicates WHERE key = '{TRACE_KEY}' LIMIT 1"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()[1]  # fmt: skip
    commands = {
        "summary": ["forensics", "summary"],
        "trace --key": ["forensics", "trace", "--key", TRACE_KEY],
        "trace --event-id": ["forensics", "trace", "--event-id", event_id],
    }
    results: dict[str, object] = {}
    outputs: dict[tuple[str, str], str] = {}
    for engine in ("duckdb", "spark"):
        for name, command in commands.items():
            args = [*command, "--warehouse", str(warehouse), "--engine", engine, "--format", "json"]
            times = []
            for _ in range(runs):
                elapsed, outputs[(engine, name)] = timed(args)
                times.append(round(elapsed, 2))
            results[f"{engine} {name}"] = {"runs_s": times, "median_s": statistics.median(times)}
            print(f"{engine:6} {name:17} {times}", flush=True)
    results["identical_output"] = {
        name: outputs[("duckdb", name)] == outputs[("spark", name)] for name in commands
    }
    return results


def write_results(results: dict[str, object], warehouse: Path) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    machine = results["hardware"]
    assert isinstance(machine, dict)
    medians = {
        name: value["median_s"]
        for name, value in results.items()
        if isinstance(value, dict) and "median_s" in value
    }
    duck_worst = max(m for name, m in medians.items() if name.startswith("duckdb "))
    spark_best = min(m for name, m in medians.items() if name.startswith("spark "))
    lines = [
        "# Forensics benchmark: cold command-to-answer on 1M deliveries",
        "",
        f"Run {results['when']} at commit {results['commit']} on {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"Spark {machine['spark']}, Delta {machine['delta']}; load average "
        f"{machine['load_average']} at the start, {results['load_average_end']} at the end.",
        f"Warehouse: {warehouse} (generated by this script with Spark).",
        "",
        "| engine | query | runs (s) | median (s) |",
        "| --- | --- | --- | --- |",
    ]
    for name, value in results.items():
        if isinstance(value, dict) and "runs_s" in value:
            engine, query = name.split(" ", 1)
            lines.append(f"| {engine} | {query} | {value['runs_s']} | {value['median_s']} |")
    verdict = "met" if duck_worst < TARGET_S else "not met"
    lines += [
        "",
        f"DuckDB's slowest median: {duck_worst} s (target < {TARGET_S:.0f} s: {verdict}); "
        f"Spark's fastest median: {spark_best} s ({spark_best / duck_worst:.0f}x DuckDB's "
        "slowest).",
        f"Same JSON output on both engines: {results['identical_output']}",
        "",
        "Every run is a new `kafka-dedup` process (Python start, imports, engine start, query,",
        "JSON output); the OS page cache is warm after the first run.",
        "Reproduce: `make bench-forensics` (generates the tables on its first run).",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    parser.add_argument("--regenerate", action="store_true", help="rewrite the tables")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    warehouse = args.warehouse.resolve()
    if args.regenerate or not (warehouse / tables.DELIVERIES).is_dir():
        config = config_mod.load(flags={"storage": {"warehouse": str(warehouse)}})
        spark = build_session(config)
        started = time.monotonic()
        generate(spark, warehouse)
        spark.stop()
        print(f"generated {warehouse} in {time.monotonic() - started:.0f} s", flush=True)
    results: dict[str, object] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),  # the code that runs, whatever is committed meanwhile
        "hardware": machine(),
    }
    results.update(measure(warehouse, args.runs))
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(results, warehouse)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
