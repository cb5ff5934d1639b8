"""SparkSession factory: Delta, the Maven-resolved jars, RocksDB state, S3A, and the catalog."""

from __future__ import annotations

from pathlib import Path

from pyspark import SparkConf
from pyspark.sql import SparkSession

from kafka_dedup import paths
from kafka_dedup.config import Config
from kafka_dedup.paths import absolute
from kafka_dedup.warehouse import Warehouse

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
DYNAMODB_LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
# JVM warnings the project's own design causes, which a user cannot act on: every command
# run inside the demo (or a test) joins an existing session, and reconcile unpersists the
# frames it checkpointed locally. Silenced unless spark.log_level asks for more than WARN.
EXPECTED_JVM_WARNINGS = (
    "org.apache.spark.sql.classic.SparkSession",  # "Using an existing Spark session"
    "org.apache.spark.rdd.MapPartitionsRDD",  # "RDD N was locally checkpointed"
)
VERBOSE_LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO")
# Every RocksDB state store instance of an executor shares one block cache and one write
# buffer budget of this size, so state memory is bounded whatever the number of keys and
# shuffle partitions (its default is unbounded: each instance sizes its own caches).
ROCKSDB_MAX_MEMORY_MB = "256"
LOCAL_DRIVER_MEMORY = "4g"  # local[*]: driver and executors share this heap


def spark_jars(config: Config) -> list[str]:
    """The add-on jars for spark.jars; none when spark-submit already provides them."""
    folder = Path(config.spark.jars_dir) if config.spark.jars_dir else paths.spark_jars_dir()
    if not folder.is_dir():
        return []
    return sorted(str(jar) for jar in folder.glob("*.jar"))


def session_conf(config: Config) -> dict[str, str]:
    """Every Spark setting the project relies on, config overrides last."""
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        # Commit a changelog per batch instead of uploading a full RocksDB snapshot.
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # Counting the state's rows costs a RocksDB read per write (about 5% of the events
        # query); the project does not use that count (numRowsTotal reads 0 instead).
        "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
        "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage": "true",
        "spark.sql.streaming.stateStore.rocksdb.maxMemoryUsageMB": ROCKSDB_MAX_MEMORY_MB,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": absolute(config.storage.warehouse),
    }
    if config.spark.master.startswith("local"):
        conf["spark.driver.memory"] = LOCAL_DRIVER_MEMORY
        conf["spark.ui.showConsoleProgress"] = "false"
    jars = spark_jars(config)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    conf.update(s3_conf(config))
    conf.update(config.spark.conf)
    return conf


def s3_conf(config: Config) -> dict[str, str]:
    """S3A settings (endpoint, path style) and, when configured, the DynamoDB log store."""
    s3 = config.s3
    conf: dict[str, str] = {}
    if s3.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            s3.endpoint.startswith("https")
        ).lower()
    if s3.path_style_access:
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    if s3.region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = s3.region
    if s3.dynamodb_log_store_table:
        conf["spark.delta.logStore.s3a.impl"] = DYNAMODB_LOG_STORE
        conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName"] = (
            s3.dynamodb_log_store_table
        )
        if s3.region:
            conf["spark.io.delta.storage.S3DynamoDBLogStore.ddb.region"] = s3.region
    return conf


def build_session(config: Config) -> SparkSession:
    """Create (or join, under spark-submit) the session with Delta and the project's catalog."""
    builder = SparkSession.builder.appName(config.spark.app_name)
    if not SparkConf().contains("spark.master"):  # spark-submit sets the master itself
        builder = builder.master(config.spark.master)
    for key, value in session_conf(config).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    if config.spark.log_level.upper() not in VERBOSE_LOG_LEVELS:
        quiet_expected_warnings(spark)
    Warehouse.of(config, spark).register_all()  # the catalog, rebuilt from the folder
    return spark


def quiet_expected_warnings(spark: SparkSession) -> None:
    """Raise the log4j level of the loggers of EXPECTED_JVM_WARNINGS to ERROR."""
    jvm = spark._jvm
    assert jvm is not None  # a classic (not Connect) session
    error = jvm.org.apache.logging.log4j.Level.ERROR
    for name in EXPECTED_JVM_WARNINGS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, error)
