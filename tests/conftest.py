"""Session-scoped real components: one local Kafka broker and one Spark session per test run."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import config as config_mod
from kafka_dedup import log
from kafka_dedup import session as session_mod
from kafka_dedup.kafka import broker, registry

# fixtures, registered once here so every module shares one instance of each
from tests.aws_fixtures import (  # noqa: F401
    aws_bundle_dir,
    moto_endpoint,
    use_dummy_aws_credentials,
)
from tests.integration.cluster_fixtures import spark_cluster  # noqa: F401

# Before any JVM starts: the Spark session and boto3 see dummy AWS credentials only, so no test
# can reach a real AWS account; AWS tests talk to the moto_endpoint server process.
use_dummy_aws_credentials()
REGISTRY_START_S = 120


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real KRaft broker on a free loopback port, stopped after the run."""
    data_dir = tmp_path_factory.mktemp("broker")
    started = broker.start(broker.free_port(), data_dir, timeout_s=90)
    try:
        yield started.bootstrap_servers
    finally:
        broker.stop(data_dir)


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real schema registry (Apicurio, Confluent-compatible API) on a free loopback port."""
    data_dir = tmp_path_factory.mktemp("registry")
    started = registry.start(registry.free_port(), data_dir, timeout_s=REGISTRY_START_S)
    try:
        yield started.url
    finally:
        registry.stop(data_dir)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def base_config(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> config_mod.Config:
    """Test config: two cores, few shuffle partitions, no UI, warehouse under tmp."""
    return config_mod.load(
        environ={},
        flags={
            "spark": {
                "master": "local[2]",
                "shuffle_partitions": 2,
                "conf": {"spark.ui.enabled": "false", "spark.driver.memory": "3g"},
            },
            "storage": {
                "warehouse": str(warehouse),
                "checkpoints": str(tmp_path_factory.mktemp("checkpoints")),
            },
        },
    )


@pytest.fixture(scope="session")
def spark(base_config: config_mod.Config) -> Iterator[SparkSession]:
    """The one Spark session of the run (Delta enabled), stopped at the end."""
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = session_mod.build_session(base_config)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(autouse=True)
def _library_logging_default() -> Iterator[None]:
    """Each test starts with the library's logging as an import leaves it: an in-process CLI
    call sets up a stderr handler at INFO, which would print a later test's progress lines
    into the stderr that test compares exactly."""
    yield
    logger = logging.getLogger(log.ROOT)
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
