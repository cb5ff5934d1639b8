"""The session factory: Kafka source jars, Delta MERGE and time travel, the project catalog."""

from __future__ import annotations

import uuid
from pathlib import Path

from confluent_kafka import Producer
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from kafka_dedup import session as session_mod
from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.warehouse import Warehouse
from tests.integration.test_broker import create_topic


def test_spark_reads_records_from_the_broker(spark: SparkSession, kafka_bootstrap: str) -> None:
    topic = f"spark-read-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(10):
        producer.produce(topic, key=f"k{i % 3}", value=f"v{i}")
    assert producer.flush(30) == 0

    read_df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(
            F.col("key").cast("string").alias("key"), F.col("value").cast("string").alias("value")
        )
    )
    expected = [Row(key=f"k{i % 3}", value=f"v{i}") for i in range(10)]
    assertDataFrameEqual(read_df, expected)


def test_delta_create_merge_and_time_travel(spark: SparkSession, tmp_path: Path) -> None:
    schema = T.StructType(
        [T.StructField("id", T.StringType()), T.StructField("amount", T.DoubleType())]
    )
    path = str(tmp_path / "merge_me")
    # a null amount rides along to show MERGE keeps nulls as values
    spark.createDataFrame([("a", 1.0), ("b", None)], schema).write.format("delta").save(path)

    from delta.tables import DeltaTable

    target = DeltaTable.forPath(spark, path)
    updates_df = spark.createDataFrame([("b", 2.0), ("c", 3.0)], schema)
    (
        target.alias("t")
        .merge(updates_df.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )

    assertDataFrameEqual(
        spark.read.format("delta").load(path),
        spark.createDataFrame([("a", 1.0), ("b", 2.0), ("c", 3.0)], schema),
    )
    assertDataFrameEqual(
        spark.read.format("delta").option("versionAsOf", 0).load(path),
        spark.createDataFrame([("a", 1.0), ("b", None)], schema),
    )
    assert [row.version for row in target.history().select("version").collect()] == [1, 0]


def test_catalog_registers_warehouse_tables_for_new_sessions(
    spark: SparkSession, base_config: Config
) -> None:
    database = base_config.storage.database
    Warehouse.of(base_config, spark).ensure(tables.QUARANTINE)
    # a later run starts with an empty catalog: registration must find the table on disk
    spark.sql(f"DROP TABLE {database}.{tables.QUARANTINE}")  # external: metadata only
    assert not spark.catalog.tableExists(f"{database}.{tables.QUARANTINE}")
    registered = Warehouse.of(base_config, spark).register_all()
    assert tables.QUARANTINE in registered
    assert spark.table(f"{database}.{tables.QUARANTINE}").schema == tables.QUARANTINE_SCHEMA
    assert spark.sql(f"SELECT count(*) AS n FROM {database}.{tables.QUARANTINE}").first().n == 0


def test_session_conf_wires_delta_rocksdb_and_jars(base_config: Config) -> None:
    conf = session_mod.session_conf(base_config, "spark://127.0.0.1:7077")
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.streaming.stateStore.providerClass"].endswith(
        "RocksDBStateStoreProvider"
    )
    # a cluster's executors fetch the jars from the driver: its paths do not exist there
    assert "spark.driver.extraClassPath" not in conf
    jar_names = sorted(Path(j).name for j in conf["spark.jars"].split(","))
    assert "delta-spark_2.13-4.0.0.jar" in jar_names
    assert "spark-sql-kafka-0-10_2.13-4.0.2.jar" in jar_names
    # the S3A jars (about 530 MB) travel only when the config names an S3 location
    assert "hadoop-aws-3.4.1.jar" not in jar_names
