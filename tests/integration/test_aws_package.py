"""`kafka-dedup aws package`: a reproducible, content-addressed bundle that runs in a fresh venv."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pyspark
import pytest

from kafka_dedup import cli
from kafka_dedup.aws import jobrun
from kafka_dedup.aws.bundle import Artifact, Bundle
from kafka_dedup.aws.stack import Target
from kafka_dedup.config import AwsConfig, load
from tests.aws_fixtures import aws_config_file, client, make_bucket, s3_keys

KAFKA_SOURCE_CLASS = "org/apache/spark/sql/kafka010/KafkaSourceProvider.class"


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


def test_package_uploads_once_and_runs_in_a_fresh_virtualenv(
    moto_endpoint: str, aws_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = make_bucket(moto_endpoint, f"art-{uuid.uuid4().hex[:8]}")
    config = aws_config_file(
        tmp_path / "kafka-dedup.toml", moto_endpoint, aws_bundle_dir,
        artifacts_uri=f"s3://{bucket}/kafka-dedup", warehouse=f"s3a://{bucket}-data/warehouse",
        checkpoints=f"s3a://{bucket}-data/checkpoints",
    )  # fmt: skip

    assert run_cli("--config", str(config), "aws", "package") == 0
    manifest = json.loads((aws_bundle_dir / "bundle.json").read_text())
    files = len(manifest)
    assert f"uploaded {files}, already there 0" in capsys.readouterr().err
    assert s3_keys(moto_endpoint, bucket, "kafka-dedup/") == sorted(
        f"kafka-dedup/{a['key']}" for a in manifest
    )
    for artifact in manifest:  # names are the content's hash
        digest = hashlib.sha256(Path(artifact["path"]).read_bytes()).hexdigest()
        assert digest == artifact["sha256"] and digest[:16] in artifact["key"]

    # building again gives byte-identical files, so nothing is uploaded twice
    assert run_cli("--config", str(config), "aws", "package") == 0
    assert f"uploaded 0, already there {files}" in capsys.readouterr().err
    assert json.loads((aws_bundle_dir / "bundle.json").read_text()) == manifest
    # progress lines are log messages: --quiet leaves stdout and stderr empty
    assert run_cli("--quiet", "--config", str(config), "aws", "package") == 0
    assert capsys.readouterr() == ("", "")

    assert_ships_the_kafka_source_the_runtime_lacks(manifest)
    by_role = {a["role"]: a["key"] for a in manifest}
    # unpacked and found the way the submitted run's spark-submit parameters say
    conf = submit_conf(manifest, f"s3://{bucket}/kafka-dedup")
    unpacked = download_and_unpack(moto_endpoint, bucket, by_role, conf, tmp_path)
    python = fresh_virtualenv(tmp_path / "venv")
    env = runtime_env(unpacked, conf, tmp_path / "runtime")

    probe = subprocess.run(
        [python, "-c", "import kafka_dedup, delta, confluent_kafka, boto3; "
         "print(kafka_dedup.__file__); print(delta.__file__)"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    library, delta = probe.stdout.split()
    python_dir = unpacked / conf["spark.emr-serverless.driverEnv.PYTHONPATH"]
    assert library == str(python_dir / "kafka_dedup" / "__init__.py")
    assert delta == str(python_dir / "delta" / "__init__.py")
    shipped_config = unpacked / conf["spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG"]
    assert load(shipped_config, environ={}).storage.warehouse == f"s3a://{bucket}-data/warehouse"
    for role, usage in [
        ("entry:ingest", "kafka-dedup ingest"),
        ("entry:reconcile", "kafka-dedup reconcile"),
        ("entry:maintain", "kafka-dedup maintain"),
        ("entry:nightly_reconcile", "--scheduled-time"),
    ]:
        entry = unpacked / Path(by_role[role]).name
        helped = subprocess.run(
            [python, str(entry), "--help"], env=env, capture_output=True, text=True,
            check=False, timeout=120,
        )  # fmt: skip
        assert helped.returncode == 0, helped.stderr
        assert usage in helped.stdout


def submit_conf(manifest: list[dict[str, Any]], artifacts_uri: str) -> dict[str, str]:
    """The --conf pairs a job run of this bundle is submitted with."""
    bundle = Bundle(tuple(Artifact(**a) for a in manifest))
    where = Target("app", "role", artifacts_uri, "s3://logs/x", "s3a://d/w", "s3a://d/c")
    params = jobrun.spark_submit_parameters(AwsConfig(), bundle, where)
    return dict(pair.split("=", 1) for pair in params.removeprefix("--conf ").split(" --conf "))


def assert_ships_the_kafka_source_the_runtime_lacks(manifest: list[dict[str, Any]]) -> None:
    jars = [Path(a["path"]) for a in manifest if a["key"].endswith(".jar")]
    runtime = {p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    assert jars and not {jar.name for jar in jars} & runtime
    assert any(KAFKA_SOURCE_CLASS in zipfile.ZipFile(jar).namelist() for jar in jars)


def download_and_unpack(
    endpoint: str, bucket: str, keys: dict[str, str], conf: dict[str, str], into: Path
) -> Path:
    """Fetch the bundle back from S3 and unpack each archive into its spark.archives alias."""
    aliases = dict(item.split("#", 1) for item in conf["spark.archives"].split(","))
    s3 = client("s3", endpoint)
    root = into / "job"
    root.mkdir()
    for key in keys.values():
        local = root / Path(key).name
        s3.download_file(bucket, f"kafka-dedup/{key}", str(local))
        alias = aliases.get(f"s3://{bucket}/kafka-dedup/{key}")
        if alias:
            with tarfile.open(local) as tar:
                tar.extractall(root / alias, filter="data")
    return root


def fresh_virtualenv(where: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return str(where / "bin" / "python")


def runtime_env(unpacked: Path, conf: dict[str, str], runtime: Path) -> dict[str, str]:
    """The driver's environment as on EMR Serverless: the bundle, then the runtime's PySpark."""
    runtime.mkdir()
    site = Path(pyspark.__file__).resolve().parents[1]
    for package in ("pyspark", "py4j"):  # what the runtime provides, and nothing else
        (runtime / package).symlink_to(site / package)
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": f"{unpacked / conf['spark.emr-serverless.driverEnv.PYTHONPATH']}:{runtime}",
        "KAFKA_DEDUP_CONFIG": str(
            unpacked / conf["spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG"]
        ),
    }
