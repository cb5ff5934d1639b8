"""AWS for tests: a real moto server process on a loopback port, dummy credentials, S3A wiring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession

from kafka_dedup import session as session_mod
from kafka_dedup.config import Config
from kafka_dedup.kafka import broker

REGION = "us-east-1"
# Dummy values only: tests must never be able to reach a real AWS account.
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
UNSET_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")


def use_dummy_aws_credentials() -> None:
    """Point the standard AWS chain (boto3 and the Spark JVM started later) at dummy values."""
    os.environ.update(DUMMY_ENV)
    for name in UNSET_ENV:
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not answer on {url} within {timeout_s}s")


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server (S3, DynamoDB, CloudFormation, EMR Serverless...) as its own process."""
    use_dummy_aws_credentials()
    port = broker.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def aws_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bundle folder for the run: the staged wheels are installed once and reused."""
    return tmp_path_factory.mktemp("aws-bundle")


def aws_config_file(
    path: Path, endpoint: str, bundle_dir: Path, **aws: str | dict[str, str]
) -> Path:
    """A config file with an [aws] section pointing at the moto server."""
    values = {"endpoint_url": endpoint, "region": REGION, "bundle_dir": str(bundle_dir), **aws}
    lines = ["[kafka]", 'bootstrap_servers = "b-1.kafka.internal:9098"', 'topics = ["orders"]', ""]
    lines += ["[aws]", *(f"{k} = {toml_value(v)}" for k, v in values.items()), ""]
    return write_text(path, "\n".join(lines))


def toml_value(value: str | dict[str, str]) -> str:
    """A string, or a table of strings inline (JSON's string escapes are TOML's)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def client(service: str, endpoint: str):  # noqa: ANN201 - boto3 clients are untyped
    """A boto3 client for the moto server."""
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def make_bucket(endpoint: str, name: str) -> str:
    client("s3", endpoint).create_bucket(Bucket=name)
    return name


def with_s3(config: Config, endpoint: str) -> Config:
    """The config with the [s3] section pointing S3A at the moto server (path-style)."""
    from kafka_dedup import config as config_mod

    return config_mod.apply(
        config,
        {"s3": {"endpoint": endpoint, "path_style_access": True, "region": REGION}},
        "the test",
    )


def configure_s3a(spark: SparkSession, config: Config) -> None:
    """Apply the project's S3A settings (session.s3_conf) to the already running session.

    The test run shares one session, started before this test knew the moto port, so the
    `spark.hadoop.*` keys the session factory would pass at start are set on the live Hadoop
    configuration instead; a fresh session would get the same keys from build_session.
    """
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
    for key, value in session_mod.s3_conf(config).items():
        if key.startswith("spark.hadoop."):
            hadoop_conf.set(key[len("spark.hadoop.") :], value)
    # moto checks no signatures; S3A's defaults would otherwise retry for minutes on errors
    hadoop_conf.set("fs.s3a.attempts.maximum", "2")
    hadoop_conf.set("fs.s3a.retry.limit", "2")
    # RocksDB uploads state files with copyFromLocalFile, whose optimized path uses the SDK's
    # async (netty) client; it rejects the "100 Continue" interim reply of moto's HTTP server,
    # which real S3 handles. The plain path streams through the synchronous client instead.
    hadoop_conf.set("fs.s3a.optimized.copy.from.local.enabled", "false")


def s3_keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    """Every object key under prefix, read through the S3 API."""
    paginator = client("s3", endpoint).get_paginator("list_objects_v2")
    keys: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def delta_row_count(endpoint: str, bucket: str, table_prefix: str) -> int:
    """Live rows of a Delta table, from its _delta_log JSON commits read through the S3 API."""
    s3 = client("s3", endpoint)
    files: dict[str, int] = {}
    commits = [
        k for k in s3_keys(endpoint, bucket, f"{table_prefix}/_delta_log/") if k.endswith(".json")
    ]
    for key in commits:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        for line in body.splitlines():
            action = json.loads(line)
            if "add" in action:
                files[action["add"]["path"]] = json.loads(action["add"]["stats"])["numRecords"]
            elif "remove" in action:
                files.pop(action["remove"]["path"], None)
    return sum(files.values())


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def log_store_table(endpoint: str, name: str) -> str:
    """A DynamoDB table with the key schema of Delta's S3DynamoDBLogStore (and the ingest lease),
    as the stack creates it."""
    client("dynamodb", endpoint).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "tablePath", "AttributeType": "S"},
            {"AttributeName": "fileName", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "tablePath", "KeyType": "HASH"},
            {"AttributeName": "fileName", "KeyType": "RANGE"},
        ],
    )
    return name
