"""What resuming from the tables costs (not a test): the per-partition highest offset of a
`deliveries` table, read once at the start of every ingest run.

Builds a deliveries-shaped table of --rows rows in --appends commits (one file per Kafka
partition and commit, as the stream writes them), then times offsets.max_offsets on it.
Prints one line with the figures, the date, the commit and the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import functions as F

from kafka_dedup import config as config_mod
from kafka_dedup import session, tables
from kafka_dedup.ingest import offsets
from kafka_dedup.warehouse import Warehouse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--appends", type=int, default=50)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-resume-")
    config = config_mod.load(
        environ={},
        flags={
            "spark": {"master": "local[2]", "conf": {"spark.ui.enabled": "false"}},
            "storage": {"warehouse": root},
        },
    )
    spark = session.build_session(config)
    lake = Warehouse(root, config.storage.database, spark)
    lake.ensure(tables.DELIVERIES)
    per_append = args.rows // args.appends
    columns = tables.DELIVERIES_SCHEMA.fieldNames()
    for n in range(args.appends):
        rows_df = (
            spark.range(n * per_append, (n + 1) * per_append, numPartitions=args.partitions)
            .select(
                F.lit("orders").alias("topic"),
                (F.col("id") % args.partitions).cast("int").alias("partition"),
                (F.col("id") / args.partitions).cast("long").alias("offset"),
                F.current_timestamp().alias("kafka_timestamp"),
                F.col("id").cast("string").alias("event_id"),
            )
            .repartition(args.partitions, "partition")
        )
        full_df = rows_df.select(
            *(
                rows_df[name] if name in rows_df.columns else F.lit(None).alias(name)
                for name in columns
            )
        )
        full_df.write.format("delta").mode("append").save(lake.location(tables.DELIVERIES))
    offsets.read_max_offsets(lake, tables.DELIVERIES)  # warm-up: JIT and file listing caches
    started = time.monotonic()
    held = offsets.read_max_offsets(lake, tables.DELIVERIES)
    seconds = time.monotonic() - started
    print(
        f"max_offsets over {args.rows} rows, {args.appends} commits, {len(held)} partitions: "
        f"{seconds:.2f} s ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{os.cpu_count()} cores, local[2])"
    )
    spark.stop()


if __name__ == "__main__":
    main()
