"""SparkSession factory: Delta, the Maven-resolved jars, RocksDB state, S3A, and the catalog."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from kafka_dedup import jvm_stderr, paths
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
    # "spark.sql.adaptive.enabled is not supported in streaming DataFrames" (each query start)
    "org.apache.spark.sql.execution.streaming.ResolveWriteToStream",
    # "Truncated the string representation of a plan" (a wide table's plan, once per JVM)
    "org.apache.spark.util.SparkStringUtils",
    "org.apache.spark.sql.catalyst.util.SparkStringUtils",
    # "A join hint (strategy=broadcast) ... is not part of a join relation": Delta plans the
    # MERGE's joins from a materialized copy of the source, without the caller's hint
    "org.apache.spark.sql.catalyst.analysis.HintErrorLogger",
)
# Loggers that report, with a JVM stack trace, a failed task, job or streaming query: Spark
# raises the same failure to kafka-dedup, which reports it in one line. Off unless
# spark.log_level asks for more than WARN.
RERAISED_JVM_ERRORS = (
    "org.apache.spark.executor.Executor",  # "Exception in task ..."
    "org.apache.spark.scheduler.TaskSetManager",  # "Lost task ...", "aborting job"
    "org.apache.spark.sql.execution.streaming.MicroBatchExecution",  # "terminated with error"
)
VERBOSE_LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO")
S3_JAR_PREFIXES = ("hadoop-aws-", "bundle-")  # S3A and the AWS SDK bundle it needs
GATEWAY_ENV = "PYSPARK_GATEWAY_PORT"  # set by spark-submit for its Python driver
# Every RocksDB state store instance of an executor shares one block cache and one write
# buffer budget of this size, so state memory is bounded whatever the number of keys and
# shuffle partitions (its default is unbounded: each instance sizes its own caches).
ROCKSDB_MAX_MEMORY_MB = "256"
LOCAL_DRIVER_MEMORY = "4g"  # local[*]: driver and executors share this heap
# The driver JVM's logging when kafka-dedup starts it (spark.log_level applies once it is up).
LOG4J2_CONFIG = Path(__file__).parent / "resources" / "log4j2.properties"


def spark_jars(config: Config) -> list[str]:
    """The add-on jars (absolute paths); none when spark-submit already provides them."""
    folder = Path(config.spark.jars_dir) if config.spark.jars_dir else paths.spark_jars_dir()
    if not folder.is_dir():
        return []
    return sorted(str(jar.resolve()) for jar in folder.glob("*.jar"))


def spark_slf4j_api() -> list[str]:
    """Spark's own SLF4J API jar, to put ahead of the add-on jars on the driver's class path.

    The AWS SDK bundle carries an unshaded SLF4J 1.x API; first on the class path, it wins,
    finds no binding, prints six "SLF4J: ..." lines at every start and drops every log line
    of Spark and Delta, errors included."""
    home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    return sorted(str(jar) for jar in (Path(home) / "jars").glob("slf4j-api-*.jar"))


def is_local(master: str) -> bool:
    """True for local, local[N], local[*]: driver and executors share one JVM."""
    return master == "local" or master.startswith("local[")


def jvm_started() -> bool:
    """True once a JVM serves this process (spark-submit started it, or a session did)."""
    return SparkContext._gateway is not None or GATEWAY_ENV in os.environ  # noqa: SLF001


def jars_conf(config: Config, master: str) -> dict[str, str]:
    """How the add-on jars reach the JVMs.

    local: on the driver's class path, read where they lie (spark.jars would copy every jar,
    the ~530 MB AWS SDK bundle included, into a temp folder at each session start).
    A cluster: spark.jars, which the driver serves and each executor fetches, since paths on
    the driver's machine do not exist on the cluster's nodes."""
    jars = spark_jars(config)
    if not jars:
        return {}
    if is_local(master) and not jvm_started():
        return {"spark.driver.extraClassPath": os.pathsep.join(spark_slf4j_api() + jars)}
    if not is_local(master) and not uses_s3(config):
        # each executor copies what spark.jars lists: leave out the S3A jars (~530 MB)
        jars = [jar for jar in jars if not Path(jar).name.startswith(S3_JAR_PREFIXES)]
    # a running JVM's class path is fixed: spark.jars adds the jars to it
    return {"spark.jars": ",".join(jars)}


def uses_s3(config: Config) -> bool:
    """True when any location in the config (tables, checkpoints, sources...) is on S3."""
    return bool(config.s3.endpoint) or any(
        scheme in repr(config) for scheme in ("s3a://", "s3://", "s3n://")
    )


def effective_master(config: Config) -> str:
    """The master the session gets: spark-submit's when it started this driver, else config's.

    Under spark-submit the Python driver starts before any SparkContext, so a plain SparkConf()
    is an empty Python dict: joining spark-submit's JVM first is the only way to read the
    --master it was given (else a job submitted to a cluster would run in local[*])."""
    if GATEWAY_ENV in os.environ:
        SparkContext._ensure_initialized()  # noqa: SLF001 - joins spark-submit's JVM gateway
        submitted = SparkConf().get("spark.master", None)
        if submitted:
            return str(submitted)
    return config.spark.master


def session_conf(config: Config, master: str | None = None) -> dict[str, str]:
    """Every Spark setting the project relies on, config overrides last."""
    master = master or config.spark.master
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
    if is_local(master):
        conf["spark.driver.memory"] = LOCAL_DRIVER_MEMORY
    conf["spark.ui.showConsoleProgress"] = "false"
    if not jvm_started():  # the driver JVM is this process's to start
        conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}"
    conf.update(jars_conf(config, master))
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
    master = effective_master(config)
    builder = SparkSession.builder.appName(config.spark.app_name).master(master)
    for key, value in session_conf(config, master).items():
        builder = builder.config(key, value)
    # a JVM this starts keeps the filtered stderr
    with nullcontext() if jvm_started() else jvm_stderr.filtered():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    if config.spark.log_level.upper() not in VERBOSE_LOG_LEVELS:
        quiet_expected_warnings(spark)
    Warehouse.of(config, spark).register_all()  # the catalog, rebuilt from the folder
    return spark


def quiet_expected_warnings(spark: SparkSession) -> None:
    """Raise the log4j level of the loggers of EXPECTED_JVM_WARNINGS to ERROR, and turn off
    those of RERAISED_JVM_ERRORS."""
    jvm = spark._jvm
    assert jvm is not None  # a classic (not Connect) session
    level = jvm.org.apache.logging.log4j.Level
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    for name in EXPECTED_JVM_WARNINGS:
        configurator.setLevel(name, level.ERROR)
    for name in RERAISED_JVM_ERRORS:
        configurator.setLevel(name, level.OFF)
