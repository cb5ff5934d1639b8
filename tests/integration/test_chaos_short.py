"""The short fault-injection run (`make chaos` is the long one): SIGKILLed ingest runs, mostly
mid-batch, and a SIGKILLed broker, under a continuous stream; every table ends exact."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from kafka_dedup.chaos import driver

# every kill aimed mid-batch here; `make chaos` also kills at random points
SHORT = driver.Plan(
    events=300, kills=3, broker_restarts=1, mid_batch_share=1.0, max_offsets_per_trigger=40
)


def test_short_chaos_run_leaves_every_table_exact(spark: SparkSession, tmp_path: Path) -> None:
    report = driver.run(SHORT, tmp_path, spark)
    assert report["failures"] == []
    faults = report["faults"]
    assert (faults["ingest_kills"], faults["broker_restarts"]) == (3, 1)
    assert faults["kills_mid_batch"] == 3
    checked = report["rows_checked"]
    assert checked["deliveries"] == checked["records_sent"] > 0
    assert checked["events"] == 300
