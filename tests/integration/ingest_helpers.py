"""Shared helpers for ingestion tests: config per test, reading tables, manifest truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.kafka import simulator


def ingest_config(base: Config, root: Path, bootstrap: str, topic: str, **kafka: Any) -> Config:
    """A config with its own warehouse, checkpoints and database under root."""
    database = "t_" + root.name.replace("-", "_").lower()[-40:]
    return dataclasses.replace(
        base,
        kafka=dataclasses.replace(
            base.kafka, bootstrap_servers=bootstrap, topics=(topic,), **kafka
        ),
        storage=dataclasses.replace(
            base.storage,
            warehouse=str(root / "warehouse"),
            checkpoints=str(root / "checkpoints"),
            database=database,
        ),
    )


def read(spark: SparkSession, config: Config, name: str) -> list[Any]:
    return (
        spark.read.format("delta").load(tables.location(config.storage.warehouse, name)).collect()
    )


def table_version(spark: SparkSession, config: Config, name: str) -> int:
    from delta.tables import DeltaTable

    path = tables.location(config.storage.warehouse, name)
    return int(DeltaTable.forPath(spark, path).history(1).first()["version"])


def sent_records(stream: simulator.Stream, phases: tuple[str, ...]) -> list[simulator.Record]:
    return [r for r in stream.records if r.phase in phases]


def expected_events(stream: simulator.Stream, include_late: bool) -> set[tuple[str, str]]:
    return {(e["key"], e["event_id"]) for e in stream.events if include_late or not e["late"]}


def expected_state(stream: simulator.Stream, include_late: bool) -> dict[str, tuple[str, int]]:
    state = simulator.expected_state(stream.events, include_late)
    return {key: (event["event_id"], event["sequence"]) for key, event in state.items()}
