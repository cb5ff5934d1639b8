"""`kafka-dedup aws package`: a reproducible, content-addressed bundle that runs in a fresh venv."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pyspark
import pytest

from kafka_dedup import cli
from tests.aws_fixtures import aws_config_file, client, make_bucket, s3_keys

JOB_FILES = 3  # ingest.py, reconcile.py and the nightly reconcile entry
PYTHON_AND_CONFIG = 2
KAFKA_JARS = 4  # spark-sql-kafka, token provider, kafka-clients, commons-pool2


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
    files = JOB_FILES + PYTHON_AND_CONFIG + KAFKA_JARS

    assert run_cli("--config", str(config), "aws", "package") == 0
    assert f"uploaded {files}, already there 0" in capsys.readouterr().err
    manifest = json.loads((aws_bundle_dir / "bundle.json").read_text())
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

    by_role = {a["role"]: a["key"] for a in manifest}
    unpacked = download_and_unpack(moto_endpoint, bucket, by_role, tmp_path)
    python = fresh_virtualenv(tmp_path / "venv")
    env = runtime_env(unpacked, tmp_path / "runtime")

    probe = subprocess.run(
        [python, "-c", "import kafka_dedup, delta, confluent_kafka, boto3; "
         "print(kafka_dedup.__file__); print(delta.__file__)"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    library, delta = probe.stdout.split()
    assert library == str(unpacked / "pyenv" / "kafka_dedup" / "__init__.py")
    assert delta == str(unpacked / "pyenv" / "delta" / "__init__.py")
    for role, usage in [
        ("entry:ingest", "kafka-dedup ingest"),
        ("entry:reconcile", "kafka-dedup reconcile"),
        ("entry:nightly_reconcile", "--scheduled-time"),
    ]:
        entry = unpacked / Path(by_role[role]).name
        helped = subprocess.run(
            [python, str(entry), "--help"], env=env, capture_output=True, text=True,
            check=False, timeout=120,
        )  # fmt: skip
        assert helped.returncode == 0, helped.stderr
        assert usage in helped.stdout


def download_and_unpack(endpoint: str, bucket: str, keys: dict[str, str], into: Path) -> Path:
    """Fetch the bundle back from S3 and unpack it as spark.archives would (pyenv/, conf/)."""
    s3 = client("s3", endpoint)
    root = into / "job"
    root.mkdir()
    for role, key in keys.items():
        local = root / Path(key).name
        s3.download_file(bucket, f"kafka-dedup/{key}", str(local))
        alias = {"python": "pyenv", "config": "conf"}.get(role)
        if alias:
            with tarfile.open(local) as tar:
                tar.extractall(root / alias, filter="data")
    return root


def fresh_virtualenv(where: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return str(where / "bin" / "python")


def runtime_env(unpacked: Path, runtime: Path) -> dict[str, str]:
    """PYTHONPATH as on EMR Serverless: the bundle, then the runtime's own PySpark."""
    runtime.mkdir()
    site = Path(pyspark.__file__).resolve().parents[1]
    for package in ("pyspark", "py4j"):  # what the runtime provides, and nothing else
        (runtime / package).symlink_to(site / package)
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": f"{unpacked / 'pyenv'}:{runtime}",
        "KAFKA_DEDUP_CONFIG": str(unpacked / "conf" / "kafka-dedup.toml"),
    }
