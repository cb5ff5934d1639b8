"""The deliveries micro-batch: idempotent per offset; quarantine is read back from deliveries,
each malformed offset exactly once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.ingest import batches, offsets, parse
from kafka_dedup.warehouse import Warehouse
from tests.unit.test_parse import VALID, kafka_rows

SKEW = Config().ingest.max_future_skew
ROWS = [(b"k1", VALID), (b"k2", b"oops"), (b"k3", VALID), (None, None)]


def _setup(base_config: Config, tmp_path: Path) -> Config:
    return dataclasses.replace(
        base_config, storage=dataclasses.replace(base_config.storage, warehouse=str(tmp_path))
    )


def _identity(query_id: str) -> batches.QueryIdentity:
    identity = batches.QueryIdentity(batches.DELIVERIES_QUERY)
    identity.set(query_id)
    return identity


def _rows(lake: Warehouse, name: str) -> list[tuple]:
    return sorted(tuple(row) for row in lake.read(name).select("offset").collect())


def test_quarantine_is_written_when_a_crash_fell_after_the_deliveries_write(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    config = _setup(base_config, tmp_path)
    lake = Warehouse.of(config, spark)
    lake.ensure(tables.DELIVERIES, tables.QUARANTINE)
    identity = _identity("query-a")
    batch_df = kafka_rows(spark, ROWS)
    # The first attempt committed deliveries, then the process died before quarantine.
    deliveries_df = batch_df.transform(parse.parse_deliveries).transform(
        parse.with_ingest_columns, batch_id=0, query_id="query-a"
    )
    batches.append(deliveries_df, lake, tables.DELIVERIES)

    ledger = batches.BatchLedger()

    def restart_and_rerun() -> None:  # each restart reads what the tables hold
        written = offsets.read_written(lake)
        batches.write_deliveries_batch(lake, SKEW, identity, ledger, written)(batch_df, 0)

    restart_and_rerun()  # deliveries rows all filtered out as written, quarantine written
    figures = ledger.pop(batches.DELIVERIES_QUERY, 0)
    restart_and_rerun()  # a second re-run changes nothing
    again = ledger.pop(batches.DELIVERIES_QUERY, 0)

    assert _rows(lake, tables.DELIVERIES) == [(0,), (1,), (2,), (3,)]
    assert _rows(lake, tables.QUARANTINE) == [(1,), (3,)]
    assert figures is not None and figures.malformed == 2
    assert again is not None and again.malformed == 0


def test_a_new_checkpoint_does_not_quarantine_the_old_generation_again(
    spark: SparkSession, base_config: Config, tmp_path: Path
) -> None:
    config = _setup(base_config, tmp_path)
    lake = Warehouse.of(config, spark)
    lake.ensure(tables.DELIVERIES, tables.QUARANTINE)
    first, second = batches.BatchLedger(), batches.BatchLedger()
    nothing = offsets.Written()
    write_a = batches.write_deliveries_batch(lake, SKEW, _identity("query-a"), first, nothing)
    write_a(kafka_rows(spark, ROWS), 0)
    # A reset checkpoint starts again at batch 0 under a new query id, after offset 3.
    later = kafka_rows(spark, [(b"k9", b"{broken"), (b"k8", VALID)]).withColumn(
        "offset", F.col("offset") + len(ROWS)
    )
    written = offsets.read_written(lake)
    batches.write_deliveries_batch(lake, SKEW, _identity("query-b"), second, written)(later, 0)

    reasons = sorted((row.offset, row.reason) for row in lake.read(tables.QUARANTINE).collect())
    assert reasons == [(1, "invalid_json"), (3, "empty_value"), (4, "invalid_json")]
    malformed = [ledger.pop(batches.DELIVERIES_QUERY, 0) for ledger in (first, second)]
    assert [figures.malformed if figures else None for figures in malformed] == [2, 1]
