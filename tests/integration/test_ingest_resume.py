"""The tables are the record of what was read: lost, reset or restored checkpoints write no
offset twice and skip none; a recreated topic stops the run before anything is written."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.cli import main
from kafka_dedup.config import Config
from kafka_dedup.ingest import offsets
from kafka_dedup.ingest.job import run_ingest
from kafka_dedup.kafka import admin, publish
from kafka_dedup.warehouse import Warehouse
from tests.integration.ingest_helpers import (
    identities,
    ingest_config,
    offsets_of,
    read,
    send,
    table_version,
    valid_records,
)

EVENT_TIME = "2026-11-30T10:00:00Z"
MALFORMED = [(b"bad-1", b"{not json"), (b"bad-2", None)]


def _config(base: Config, root: Path, bootstrap: str, topic: str, **kafka: object) -> Config:
    config = ingest_config(base, root, bootstrap, topic, **kafka)
    # narrow batches: several deliveries commits per run
    return dataclasses.replace(
        config, kafka=dataclasses.replace(config.kafka, max_offsets_per_trigger=6)
    )


def _events_read(spark: SparkSession, config: Config, run_id: str) -> int:
    rows = read(spark, config, tables.INGEST_BATCHES)
    return sum(r.records_read for r in rows if r.run_id == run_id and r.query == "events")


def _rows_added_by(spark: SparkSession, config: Config, version: int) -> int:
    lake = Warehouse.of(config, spark)
    counts = [lake.read(tables.DELIVERIES, version=v).count() for v in (version - 1, version)]
    return counts[1] - counts[0]


def test_deleted_checkpoints_resume_after_the_tables(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    topic = "orders-lost-checkpoint"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=2)
    sent = send(kafka_bootstrap, topic, valid_records("a", 14, EVENT_TIME) + MALFORMED)
    config = _config(base_config, tmp_path, kafka_bootstrap, topic)
    run_ingest(spark, config)

    shutil.rmtree(config.storage.checkpoints)  # both checkpoints lost
    sent += send(kafka_bootstrap, topic, valid_records("b", 4, EVENT_TIME) + MALFORMED[:1])
    version_at_start = table_version(spark, config, tables.DELIVERIES)
    # 'latest' must not skip what was produced while no run was going
    latest = dataclasses.replace(config.kafka, starting_offsets="latest")
    second = run_ingest(spark, dataclasses.replace(config, kafka=latest))

    assert offsets_of(spark, config, tables.DELIVERIES) == {c: 1 for c in sent}
    quarantined = offsets_of(spark, config, tables.QUARANTINE)
    assert quarantined == {sent[i]: 1 for i in (14, 15, 20)}
    expected = {(f"k{i % 3}", f"a-{i}") for i in range(14)}
    expected |= {(f"k{i % 3}", f"b-{i}") for i in range(4)}
    assert identities(spark, config) == {identity: 1 for identity in expected}
    assert second.totals.records_read == 5
    assert (second.totals.malformed, second.totals.rows_inserted) == (1, 4)
    # the new events checkpoint re-read one deliveries commit, not the whole table
    reread = _rows_added_by(spark, config, version_at_start)
    assert _events_read(spark, config, second.run_id) == 5 + reread < len(sent)


def test_a_restored_old_checkpoint_writes_only_what_is_missing(
    spark: SparkSession, kafka_bootstrap: str, base_config: Config, tmp_path: Path
) -> None:
    topic = "orders-restored-checkpoint"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=2)
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    checkpoints, backup = Path(config.storage.checkpoints), tmp_path / "backup"
    sent = send(kafka_bootstrap, topic, valid_records("a", 6, EVENT_TIME))
    run_ingest(spark, config)
    shutil.copytree(checkpoints, backup)  # a backup taken after the first run
    sent += send(kafka_bootstrap, topic, valid_records("b", 6, EVENT_TIME) + MALFORMED)
    run_ingest(spark, config)

    shutil.rmtree(checkpoints)
    shutil.copytree(backup, checkpoints)  # the old backup restored: same query ids
    sent += send(kafka_bootstrap, topic, valid_records("c", 6, EVENT_TIME) + MALFORMED)
    third = run_ingest(spark, config)

    assert offsets_of(spark, config, tables.DELIVERIES) == {c: 1 for c in sent}
    assert offsets_of(spark, config, tables.QUARANTINE) == {sent[i]: 1 for i in (12, 13, 20, 21)}
    assert sum(identities(spark, config).values()) == 18
    assert set(identities(spark, config).values()) == {1}
    assert third.totals.malformed == 2


def _recreate(bootstrap: str, topic: str) -> None:
    client = admin.admin_client(bootstrap)
    client.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 60
    while True:  # the broker refuses the name until the deletion completed
        try:
            futures = client.create_topics([NewTopic(topic, 1, 1)])
            futures[topic].result(timeout=30)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _ingest_cli(config: Config, topic: str) -> int:
    return main(
        [
            "ingest",
            "--bootstrap-servers", config.kafka.bootstrap_servers,
            "--topics", topic,
            "--warehouse", config.storage.warehouse,
            "--checkpoints", config.storage.checkpoints,
        ]
    )  # fmt: skip


def test_a_recreated_topic_stops_the_run_before_anything_is_written(
    spark: SparkSession,
    kafka_bootstrap: str,
    base_config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = "orders-recreated"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=1)
    config = ingest_config(base_config, tmp_path, kafka_bootstrap, topic)
    monkeypatch.setenv("KAFKA_DEDUP_STORAGE__DATABASE", config.storage.database)
    monkeypatch.setenv("KAFKA_DEDUP_SPARK__MASTER", "local[2]")
    send(kafka_bootstrap, topic, valid_records("a", 5, EVENT_TIME))
    run_ingest(spark, config)
    old_id = offsets.topic_ids(Warehouse.of(config, spark))
    _recreate(kafka_bootstrap, topic)
    send(kafka_bootstrap, topic, valid_records("new", 2, EVENT_TIME))
    new_id = admin.topic_logs(kafka_bootstrap, [topic])[topic].topic_id
    names = (tables.DELIVERIES, tables.EVENTS, tables.QUARANTINE, tables.INGEST_BATCHES)
    before = {name: table_version(spark, config, name) for name in names}
    reset = (
        "ingest it into a new --warehouse and --checkpoints, or move the old topic's rows out "
        "of deliveries and quarantine and delete the checkpoints\n"
    )

    assert _ingest_cli(config, topic) == 2
    assert capsys.readouterr().err == (
        f"kafka-dedup ingest: error: topic {topic} was recreated (id {new_id}, deliveries were "
        f"read from id {old_id[topic]}): its offsets restart and would collide with the old "
        f"ones; {reset}"
    )
    # a table filled before topic ids were recorded: the offsets give it away
    path = Warehouse.of(config, spark).location(tables.DELIVERIES)
    spark.sql(f"ALTER TABLE delta.`{path}` UNSET TBLPROPERTIES ('kafka_dedup.topic_id.{topic}')")
    before[tables.DELIVERIES] += 1
    assert _ingest_cli(config, topic) == 2
    assert capsys.readouterr().err == (
        f"kafka-dedup ingest: error: topic {topic} was recreated: partition 0 ends at offset 2 "
        f"but deliveries already holds offset 4 of it; {reset}"
    )
    assert {name: table_version(spark, config, name) for name in names} == before
