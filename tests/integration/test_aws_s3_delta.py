"""Delta tables on S3 for real: S3A against a local moto server, path-style, read back via S3."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from kafka_dedup import config as config_mod
from kafka_dedup import session as session_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.warehouse import Warehouse
from tests.aws_fixtures import (
    REGION,
    configure_s3a,
    delta_row_count,
    make_bucket,
    s3_keys,
    with_s3,
)


def s3_config(base_config: Config, endpoint: str, bucket: str) -> Config:
    """The test config with the warehouse on S3 and its own catalog database."""
    return config_mod.apply(
        with_s3(base_config, endpoint),
        {
            "storage": {
                "warehouse": f"s3a://{bucket}/warehouse",
                "checkpoints": f"s3a://{bucket}/checkpoints",
                # the run shares one session: keep these tables apart from the local ones
                "database": f"s3_{bucket.replace('-', '_')}",
            }
        },
        "the test",
    )


def test_s3_conf_maps_the_s3_section_to_s3a_keys(base_config: Config) -> None:
    config = config_mod.apply(
        base_config,
        {
            "s3": {
                "endpoint": "http://127.0.0.1:5000",
                "path_style_access": True,
                "region": REGION,
                "dynamodb_log_store_table": "delta_log",
            }
        },
        "the test",
    )
    assert session_mod.s3_conf(config) == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:5000",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": REGION,
        "spark.delta.logStore.s3a.impl": "io.delta.storage.S3DynamoDBLogStore",
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName": "delta_log",
        "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region": REGION,
    }


def test_delta_table_on_s3_create_append_merge_and_catalog(
    spark: SparkSession, base_config: Config, moto_endpoint: str
) -> None:
    bucket = make_bucket(moto_endpoint, f"wh-{uuid.uuid4().hex[:8]}")
    config = s3_config(base_config, moto_endpoint, bucket)
    configure_s3a(spark, config)
    database = config.storage.database
    warehouse = Warehouse.of(config, spark)

    warehouse.ensure(tables.QUARANTINE)
    at = datetime(2026, 11, 25, 10, 0, 0)
    # a row with a null key and detail rides along: nulls must survive the S3 round trip
    rows = [
        ("orders", 0, 1, at, None, b"{", "invalid_json", None, at),
        ("orders", 1, 7, at, b"k1", b"{}", "missing_event_id", "event_id", at),
    ]
    schema = tables.QUARANTINE_SCHEMA
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(
        warehouse.location(tables.QUARANTINE)
    )
    update_df = spark.createDataFrame(
        [("orders", 1, 7, at, b"k1", b"{}", "missing_event_id", "fixed detail", at)], schema
    )
    (
        warehouse.table(tables.QUARANTINE)
        .alias("t")
        .merge(
            update_df.alias("s"),
            "t.topic = s.topic AND t.partition = s.partition AND t.offset = s.offset",
        )
        .whenMatchedUpdateAll()
        .execute()
    )

    # a fresh catalog finds the table on S3, as a new process would
    spark.sql(f"DROP TABLE IF EXISTS {database}.{tables.QUARANTINE}")
    assert Warehouse.of(config, spark).register_all() == [tables.QUARANTINE]
    expected = [rows[0], update_df.collect()[0]]
    assertDataFrameEqual(
        spark.table(f"{database}.{tables.QUARANTINE}"), spark.createDataFrame(expected, schema)
    )

    # and through the S3 API itself: three commits (create, append, merge), two live rows
    log_keys = s3_keys(moto_endpoint, bucket, "warehouse/quarantine/_delta_log/")
    assert [k.rsplit("/", 1)[1] for k in log_keys if k.endswith(".json")] == [
        f"{v:020d}.json" for v in range(3)
    ]
    assert delta_row_count(moto_endpoint, bucket, "warehouse/quarantine") == 2


# Three events of two keys, one sent twice (a producer retry) and one malformed record.
EVENTS = [
    ("o-1", "e-1", "order.created", "2026-11-25T10:00:00Z", 1),
    ("o-1", "e-2", "order.paid", "2026-11-25T10:05:00Z", 2),
    ("o-2", "e-3", "order.created", "2026-11-25T11:00:00Z", 1),
]


def produce_small_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Producer

    from tests.integration.test_broker import create_topic

    create_topic(bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    envelopes = [
        (key, {"event_id": eid, "event_type": kind, "event_time": at, "sequence": seq,
               "producer_id": "checkout-1", "payload": {"amount": 42.5}})
        for key, eid, kind, at, seq in EVENTS
    ]  # fmt: skip
    for key, envelope in [*envelopes, envelopes[1]]:
        producer.produce(topic, key=key, value=json.dumps(envelope))
    producer.produce(topic, key="o-3", value=b"{not json")
    assert producer.flush(30) == 0


def test_ingest_and_reconcile_run_with_warehouse_and_checkpoints_on_s3(
    spark: SparkSession, base_config: Config, moto_endpoint: str, kafka_bootstrap: str
) -> None:
    from kafka_dedup.ingest.job import run_ingest
    from kafka_dedup.reconcile.job import run_reconcile

    bucket = make_bucket(moto_endpoint, f"e2e-{uuid.uuid4().hex[:8]}")
    topic = f"s3-e2e-{uuid.uuid4().hex[:8]}"
    produce_small_topic(kafka_bootstrap, topic)
    config = config_mod.apply(
        s3_config(base_config, moto_endpoint, bucket),
        {"kafka": {"bootstrap_servers": kafka_bootstrap, "topics": topic},
         "ingest": {"trigger": "available-now"}},
        "the test",
    )  # fmt: skip
    configure_s3a(spark, config)

    result = run_ingest(spark, config)
    assert result.stopped_by_signal is False
    warehouse = Warehouse.of(config, spark)
    events = {(r.key, r.event_id) for r in warehouse.read(tables.EVENTS).collect()}
    assert events == {(key, eid) for key, eid, *_ in EVENTS}
    state = warehouse.read(tables.ENTITY_STATE)
    assert {(r.key, r.event_id) for r in state.collect()} == {("o-1", "e-2"), ("o-2", "e-3")}

    # the nightly run of that day, well after its grace period
    reconciled = run_reconcile(
        spark, config, date(2026, 11, 25),
        as_of=datetime(2026, 11, 27, tzinfo=timezone.utc),
    )  # fmt: skip
    assert reconciled.exit_code == 0

    # read back through the S3 API: every table and checkpoint lives in the bucket
    assert delta_row_count(moto_endpoint, bucket, "warehouse/deliveries") == 5
    assert delta_row_count(moto_endpoint, bucket, "warehouse/events") == 3
    assert delta_row_count(moto_endpoint, bucket, "warehouse/entity_state") == 2
    assert delta_row_count(moto_endpoint, bucket, "warehouse/quarantine") == 1
    assert delta_row_count(moto_endpoint, bucket, "warehouse/reconciliation_runs") == 1
    checkpoint_keys = s3_keys(moto_endpoint, bucket, "checkpoints/")
    assert any("/offsets/" in key for key in checkpoint_keys)
    assert any("/commits/" in key for key in checkpoint_keys)
