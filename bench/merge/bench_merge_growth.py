"""MERGE-growth benchmark (not a test): does a batch cost the same against a 10x bigger table?

For each table size (default 1M, then 10M rows in both `events` and `entity_state`) a fresh
warehouse is generated: keys drawn at random, event dates spread over the last `--days` days,
files of about a million rows (what `maintain` leaves). Then `--batches` realistic batches
run through the library's own MERGEs (`eventlog.merge_events`, `eventlog.merge_entity_state`):
`--batch-keys` random keys each (about one in six new), event dates spread over the last two
days, each a newer version of its key. The first batch warms the JVM up and is not counted.

Variants, in the same run: `dv` (deletion vectors on entity_state: its MERGE marks replaced
rows instead of rewriting their files) and `rewrite` (the tables as `Warehouse.ensure` creates
them: Delta rewrites every file the entity_state MERGE touches). Reported: the median seconds per batch of
each MERGE at each size, and the ratio of the biggest size to the smallest (target <= 1.5).
An unrecorded round on `--warmup-rows` rows runs first: in one JVM the first tables merged
into ran up to 3x slower (the `events` MERGE of the first variant at 1M rows), which made
the first variant's smallest size look slow and its growth look small.
Writes bench/merge/results.json and results.md (date, commit, machine, load average).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import eventlog, tables
from kafka_dedup.session import build_session
from kafka_dedup.warehouse import Warehouse

HERE = Path(__file__).parent
TARGET_RATIO = 1.5
ROWS_PER_FILE = 1_000_000
VARIANTS = {
    "dv": {"delta.enableDeletionVectors": "true"},
    "rewrite": {"delta.enableDeletionVectors": "false"},
}

sys.path.insert(0, str(HERE.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402


def session(work: Path) -> SparkSession:
    config = config_mod.load(
        environ={},
        flags={
            "spark": {
                "master": "local[2]",
                "shuffle_partitions": 4,
                "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "6g"},
            },
            "storage": {"warehouse": str(work / "unused"), "database": "bench_merge"},
        },
    )
    return build_session(config)


def event_rows(ids: DataFrame, key_space: int, today: date, days: int,
               sequence_base: int, seed: int) -> DataFrame:  # fmt: skip
    """Rows of the events schema for each `id`: a random key of `key_space`, a random time
    within the last `days` days before `today` (`seed`: each batch draws other keys)."""
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), timezone.utc)
    seconds = F.floor(F.rand(2 * seed + 1) * days * 86400).cast("long")
    at = F.timestamp_seconds(F.lit(int(start.timestamp())) + seconds)
    key = F.concat(F.lit("k"), F.floor(F.rand(2 * seed) * key_space).cast("long").cast("string"))
    values = {
        "key": key,
        "event_id": F.concat(F.lit("e"), F.col("id").cast("string")),
        "event_type": F.lit("order.updated"),
        "event_time": at,
        "event_date": F.to_date(at),
        "sequence": F.lit(sequence_base) + F.col("id"),
        "producer_id": F.lit("bench"),
        "payload": F.to_json(F.struct(F.col("id").alias("amount"))),
        "topic": F.lit("orders"),
        "partition": (F.col("id") % 6).cast("int"),
        "offset": F.col("id"),
        "kafka_timestamp": at,
        "ingested_at": F.current_timestamp(),
        "merged_by": F.lit("bench"),
    }
    columns = [values[f.name].cast(f.dataType).alias(f.name) for f in tables.EVENTS_SCHEMA]
    return ids.select(*columns)


def generate(spark: SparkSession, lake: Warehouse, rows: int, days: int, today: date) -> None:
    """`rows` events over `days` days and the latest row of each key in entity_state."""
    files = max(1, rows // ROWS_PER_FILE)
    events = event_rows(spark.range(rows), rows, today, days, 0, seed=1000)
    events.repartition(files).write.format("delta").mode("append").save(
        lake.location(tables.EVENTS)
    )
    state_columns = [f.name for f in tables.ENTITY_STATE_SCHEMA]
    latest = eventlog.latest_per_key(lake.read(tables.EVENTS)).select(*state_columns)
    latest.repartition(files).write.format("delta").mode("append").save(
        lake.location(tables.ENTITY_STATE)
    )


def run_batches(spark: SparkSession, lake: Warehouse, rows: int, args: argparse.Namespace,
                today: date) -> dict[str, list[float]]:  # fmt: skip
    """Seconds of each MERGE per batch (the warm-up batch first)."""
    seconds: dict[str, list[float]] = {tables.EVENTS: [], tables.ENTITY_STATE: []}
    key_space = rows * 6 // 5  # about one key in six of a batch is new
    for n in range(args.batches + 1):
        first_id = 10 * rows + n * args.batch_keys
        ids = spark.range(first_id, first_id + args.batch_keys)
        batch = event_rows(ids, key_space, today, 2, 10 * rows, seed=n + 1)
        batch = batch.localCheckpoint(eager=True)
        dates = sorted(r.event_date for r in batch.select("event_date").distinct().collect())
        t0 = time.monotonic()
        inserted = eventlog.merge_events(lake.table(tables.EVENTS), batch, dates)
        t1 = time.monotonic()
        updates = eventlog.merge_entity_state(
            lake.table(tables.ENTITY_STATE), eventlog.latest_per_key(batch)
        )
        t2 = time.monotonic()
        seconds[tables.EVENTS].append(t1 - t0)
        seconds[tables.ENTITY_STATE].append(t2 - t1)
        label = "warm-up" if n == 0 else f"batch {n}"
        print(f"    {label}: events {t1 - t0:.1f} s ({inserted} inserted), entity_state "
              f"{t2 - t1:.1f} s ({updates} updated)", flush=True)  # fmt: skip
    return seconds


def table_files(spark: SparkSession, lake: Warehouse, name: str) -> int:
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.location(name)}`").first()
    return int(detail["numFiles"]) if detail is not None else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="table rows, comma-separated")
    parser.add_argument("--batches", type=int, default=5, help="measured batches per size")
    parser.add_argument("--batch-keys", type=int, default=20_000, help="rows per batch")
    parser.add_argument("--days", type=int, default=30, help="days the generated events span")
    parser.add_argument("--warmup-rows", type=int, default=1_000_000,
                        help="rows of an unrecorded first round (0: none)")  # fmt: skip
    parser.add_argument("--variants", default="dv,rewrite", help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    today = datetime.now(timezone.utc).date()
    code = commit()
    load_start = machine()["load_average"]
    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    spark = session(work)
    results: dict[str, Any] = {}
    try:
        if args.warmup_rows:  # unrecorded: the first tables a JVM merges into run slower
            print(f"JVM warm-up on {args.warmup_rows:,} rows ...", flush=True)
            lake = Warehouse(str(work / "warmup"), "bench_warmup", spark)
            lake.ensure(tables.EVENTS, tables.ENTITY_STATE)
            generate(spark, lake, args.warmup_rows, args.days, today)
            run_batches(spark, lake, args.warmup_rows, args, today)
            shutil.rmtree(work / "warmup", ignore_errors=True)
        for variant in variants:
            for rows in sizes:
                lake = Warehouse(str(work / f"{variant}-{rows}"), f"bench_{variant}_{rows}", spark)
                lake.ensure(tables.EVENTS, tables.ENTITY_STATE)
                pairs = ", ".join(f"'{k}' = '{v}'" for k, v in VARIANTS[variant].items())
                spark.sql(
                    f"ALTER TABLE delta.`{lake.location(tables.ENTITY_STATE)}` "
                    f"SET TBLPROPERTIES ({pairs})"
                )
                print(f"{variant}, {rows:,} rows: generating ...", flush=True)
                t0 = time.monotonic()
                generate(spark, lake, rows, args.days, today)
                generated_s = time.monotonic() - t0
                files_before = {n: table_files(spark, lake, n) for n in seconds_keys()}
                seconds = run_batches(spark, lake, rows, args, today)
                results.setdefault(variant, {})[str(rows)] = {
                    "generate_seconds": round(generated_s, 1),
                    "files_before": files_before,
                    "files_after": {n: table_files(spark, lake, n) for n in seconds_keys()},
                    "warmup_seconds": {n: round(s[0], 2) for n, s in seconds.items()},
                    "batch_seconds": {n: [round(x, 2) for x in s[1:]] for n, s in seconds.items()},
                    "median_seconds": {
                        n: round(statistics.median(s[1:]), 2) for n, s in seconds.items()
                    },
                }
                shutil.rmtree(work / f"{variant}-{rows}", ignore_errors=True)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    for figures in results.values():
        smallest, biggest = figures[str(min(sizes))], figures[str(max(sizes))]
        figures["growth"] = {
            n: round(biggest["median_seconds"][n] / smallest["median_seconds"][n], 2)
            for n in seconds_keys()
        }
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": code,
        "hardware": machine(),
        "load_average_start": load_start,
        "sizes": sizes,
        "batches": args.batches,
        "batch_keys": args.batch_keys,
        "warmup_rows": args.warmup_rows,
        "days": args.days,
        "target_growth": TARGET_RATIO,
        "variants": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(report))
    print((args.out / "results.md").read_text())
    return 0


def seconds_keys() -> tuple[str, str]:
    return (tables.EVENTS, tables.ENTITY_STATE)


def markdown(report: dict[str, Any]) -> str:
    hw = report["hardware"]
    sizes = report["sizes"]
    lines = [
        "# MERGE-growth benchmark",
        "",
        f"Run {report['when']} at commit {report['commit']} on {hw['cpu']}, {hw['cores']} "
        f"cores, {hw['memory_gib']} GiB, Python {hw['python']}, Spark {hw['spark']}, Delta "
        f"{hw['delta']}, `local[2]`; load average at start {report['load_average_start']}, "
        f"at end {hw['load_average']}.",
        "",
        f"Batches of {report['batch_keys']:,} random keys, event dates over the last two days; "
        f"tables generated over {report['days']} days. Median of {report['batches']} batches "
        f"after one warm-up batch, seconds per MERGE, after an unrecorded round on "
        f"{report.get('warmup_rows', 0):,} rows:",
        "",
        "| variant | MERGE | "
        + " | ".join(f"{s:,} rows" for s in sizes)
        + f" | {max(sizes) // min(sizes)}x table costs | target |",
        "| --- | --- | " + " | ".join("---:" for _ in sizes) + " | ---: | --- |",
    ]
    for variant, figures in report["variants"].items():
        for name in seconds_keys():
            cells = " | ".join(f"{figures[str(s)]['median_seconds'][name]:.2f}" for s in sizes)
            growth = figures["growth"][name]
            verdict = "met" if growth <= report["target_growth"] else "not met"
            lines.append(
                f"| {variant} | {name} | {cells} | {growth:.2f}x | <= "
                f"{report['target_growth']}x: {verdict} |"
            )
    lines += ["", "Files per table before and after the batches:", ""]
    for variant, figures in report["variants"].items():
        for s in sizes:
            f = figures[str(s)]
            lines.append(
                f"- {variant}, {s:,} rows: "
                + ", ".join(
                    f"{n} {f['files_before'][n]} -> {f['files_after'][n]}" for n in seconds_keys()
                )
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
