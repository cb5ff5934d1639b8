"""`kafka-dedup aws submit|status|logs` against moto's EMR Serverless and S3 over HTTP."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kafka_dedup import cli
from tests.aws_fixtures import aws_config_file, client, make_bucket

ROLE = "arn:aws:iam::123456789012:role/kafka-dedup-job"


@dataclass(frozen=True)
class Deployment:
    app: str
    artifacts: str
    logs: str
    warehouse: str
    config: str
    bundle_dir: Path

    def manifest(self) -> dict[str, str]:
        entries = json.loads((self.bundle_dir / "bundle.json").read_text())
        return {a["role"]: f"s3://{self.artifacts}/kafka-dedup/{a['key']}" for a in entries}


@pytest.fixture
def deployment(moto_endpoint: str, aws_bundle_dir: Path, tmp_path: Path) -> Deployment:
    """An EMR Serverless application and buckets, named in [aws] as the stack outputs would."""
    name = f"kd-{uuid.uuid4().hex[:8]}"
    # moto only knows emr-X.Y.0 labels; the job-run request carries no release label anyway
    app = client("emr-serverless", moto_endpoint).create_application(
        name=name, releaseLabel="emr-7.9.0", type="SPARK"
    )["applicationId"]
    artifacts = make_bucket(moto_endpoint, f"{name}-artifacts")
    logs = make_bucket(moto_endpoint, f"{name}-logs")
    warehouse = f"s3a://{name}-data/warehouse"
    config = aws_config_file(
        tmp_path / "kafka-dedup.toml", moto_endpoint, aws_bundle_dir, stack_name=name,
        application_id=app, execution_role_arn=ROLE,
        artifacts_uri=f"s3://{artifacts}/kafka-dedup", logs_uri=f"s3://{logs}/emr-serverless",
        warehouse=warehouse, checkpoints=f"s3a://{name}-data/checkpoints",
    )  # fmt: skip
    return Deployment(app, artifacts, logs, warehouse, str(config), aws_bundle_dir)


def parsed(job: str, arguments: list[str]) -> argparse.Namespace:
    """A run's entry-point arguments as the job's own command line reads them."""
    return cli.build_parser([job]).parse_args([job, *arguments])


def submit_conf(driver: dict[str, Any]) -> dict[str, str]:
    params = driver["sparkSubmitParameters"].removeprefix("--conf ")
    return dict(pair.split("=", 1) for pair in params.split(" --conf "))


def archive_members(endpoint: str, bucket: str, uri: str) -> list[str]:
    """The files of an uploaded .tar.gz, read back from S3."""
    body = client("s3", endpoint).get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read())) as tar:
        return [member.name for member in tar.getmembers() if member.isfile()]


def test_submit_reconcile_starts_the_run_with_the_bundle_and_status_reports_it(
    moto_endpoint: str, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", deployment.config, "aws", "submit", "reconcile", "--date", "2026-11-25"]
    assert cli.main(argv) == 0
    run_id = capsys.readouterr().out.strip()

    job_run = client("emr-serverless", moto_endpoint).get_job_run(
        applicationId=deployment.app, jobRunId=run_id
    )["jobRun"]
    assert "2026-11-25" in job_run["name"]
    assert job_run["executionRole"] == ROLE
    bundle = deployment.manifest()
    driver = job_run["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == bundle["entry:reconcile"]
    args = parsed("reconcile", driver["entryPointArguments"])
    assert (args.date, args.warehouse) == ("2026-11-25", deployment.warehouse)
    archives = dict(item.split("#", 1) for item in submit_conf(driver)["spark.archives"].split(","))
    assert set(archives) == {bundle["python"], bundle["config"]}
    # --config names the file the uploaded config archive unpacks to
    (member,) = archive_members(moto_endpoint, deployment.artifacts, bundle["config"])
    assert args.config == f"./{archives[bundle['config']]}/{member}"
    monitoring = job_run["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"]["logUri"] == (
        f"s3://{deployment.logs}/emr-serverless/"
    )
    # every uploaded location the run points at exists in the bucket
    s3 = client("s3", moto_endpoint)
    for uri in (driver["entryPoint"], bundle["python"], bundle["config"]):
        s3.head_object(Bucket=deployment.artifacts, Key=uri.split("/", 3)[3])

    # moto completes runs at once, with SUCCESS; status says where the report is
    assert cli.main(["--config", deployment.config, "aws", "status", run_id]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{run_id} SUCCESS")
    folder = f"{deployment.warehouse}/_reports/2026-11-25"
    assert out[1:] == [f"report: {folder}/report.html", f"summary: {folder}/summary.json"]
    assert cli.main(["--config", deployment.config, "aws", "logs", run_id]) == 2  # none yet
    capsys.readouterr()
    key = f"emr-serverless/applications/{deployment.app}/jobs/{run_id}/SPARK_DRIVER/stdout.gz"
    s3.put_object(Bucket=deployment.logs, Key=key, Body=gzip.compress(b"exit 0\n"))
    assert cli.main(["--config", deployment.config, "aws", "logs", run_id]) == 0
    logged = capsys.readouterr()
    assert (logged.out, logged.err.splitlines()) == ("exit 0\n", out[1:])


def test_submit_ingest_passes_the_kafka_and_warehouse_flags(
    moto_endpoint: str, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", deployment.config, "aws", "submit", "ingest"]) == 0
    run_id = capsys.readouterr().out.strip()
    driver = client("emr-serverless", moto_endpoint).get_job_run(
        applicationId=deployment.app, jobRunId=run_id
    )["jobRun"]["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == deployment.manifest()["entry:ingest"]
    args = parsed("ingest", driver["entryPointArguments"])
    # the [kafka] section of the config file (aws_config_file), and a run that ends
    assert (args.bootstrap_servers, args.topics) == ("b-1.kafka.internal:9098", "orders")
    assert (args.warehouse, args.trigger) == (deployment.warehouse, "available-now")


def test_logs_prints_the_driver_output_from_s3(
    moto_endpoint: str, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = "00fjobrun0001"
    key = f"emr-serverless/applications/{deployment.app}/jobs/{run_id}/SPARK_DRIVER/stdout.gz"
    # where EMR Serverless writes the driver's stdout, gzipped
    text = "run 2026-11-25: 0 findings\nexit 0\n"
    client("s3", moto_endpoint).put_object(
        Bucket=deployment.logs, Key=key, Body=gzip.compress(text.encode())
    )
    assert cli.main(["--config", deployment.config, "aws", "logs", run_id]) == 0
    assert capsys.readouterr().out == text

    assert cli.main(["--config", deployment.config, "aws", "logs", run_id, "--stderr"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"kafka-dedup aws: error: no driver stderr at s3://{deployment.logs}/"
        f"{key.replace('stdout', 'stderr')} yet; logs appear once the driver has started "
        "(check `kafka-dedup aws status`)"
    )


def test_bad_input_fails_with_one_line(
    moto_endpoint: str, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", deployment.config, "aws", "submit", "reconcile", "--date", "yesterday"]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "kafka-dedup aws: error: --date 'yesterday': reconcile needs a day as YYYY-MM-DD"
    )
    assert cli.main(["--config", deployment.config, "aws", "status", "00fnosuchrun"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("kafka-dedup aws: error: reading job run 00fnosuchrun: ")
    assert len(error.splitlines()) == 1
