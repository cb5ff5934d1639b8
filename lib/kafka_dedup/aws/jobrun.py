"""EMR Serverless job runs: the StartJobRun request, its status, and the driver's log from S3."""

from __future__ import annotations

import gzip
import re
import uuid
from typing import Any

from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from kafka_dedup.aws import bundle as bundle_mod
from kafka_dedup.aws.bundle import Bundle
from kafka_dedup.aws.clients import AwsError, aws_errors, split_s3_uri
from kafka_dedup.aws.jobconfig import FILE_NAME
from kafka_dedup.aws.stack import Target
from kafka_dedup.config import AwsConfig, Config, ConfigError

# Delta ships with the runtime (emr-spark-8.0.0: Delta 4.0.0) in this folder.
RUNTIME_DELTA_JARS = ("delta-spark.jar", "delta-storage.jar")
RUNTIME_DELTA_DIR = "/usr/share/aws/delta/lib"
DYNAMODB_LOG_STORE_JAR = "delta-storage-s3-dynamodb.jar"
PYTHON_ALIAS = "pyenv"
CONFIG_ALIAS = "conf"
JOB_CONFIG = f"./{CONFIG_ALIAS}/{FILE_NAME}"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TERMINAL_OK = {"SUCCESS"}
TERMINAL_FAILED = {"FAILED", "CANCELLED"}


def spark_submit_parameters(
    aws: AwsConfig, bundle: Bundle, target: Target, delta_dir: str = RUNTIME_DELTA_DIR
) -> str:
    """--conf pairs: the Python archive on PYTHONPATH, the config file, and the extra jars.

    delta_dir: where the runtime keeps Delta's jars (another folder only for a rehearsal)."""
    base = target.artifacts_uri
    runtime = [f"{delta_dir}/{jar}" for jar in RUNTIME_DELTA_JARS]
    if target.log_store_table:
        runtime.append(f"{delta_dir}/{DYNAMODB_LOG_STORE_JAR}")
    jars = runtime + [bundle_mod.uri(base, key) for key in bundle.keys("jar")]
    archives = [
        f"{bundle_mod.uri(base, bundle.key('python'))}#{PYTHON_ALIAS}",
        f"{bundle_mod.uri(base, bundle.key('config'))}#{CONFIG_ALIAS}",
    ]
    conf = {
        "spark.archives": ",".join(archives),
        "spark.jars": ",".join(jars),
        "spark.emr-serverless.driverEnv.PYTHONPATH": f"./{PYTHON_ALIAS}",
        "spark.executorEnv.PYTHONPATH": f"./{PYTHON_ALIAS}",
        "spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG": JOB_CONFIG,
        # the project rebuilds its catalog from the warehouse: no Glue or Hive metastore calls
        "spark.sql.catalogImplementation": "in-memory",
        **aws.spark_conf,
    }
    for key, value in conf.items():
        if not value or any(ch.isspace() for ch in f"{key}{value}"):
            raise ConfigError(f"aws.spark_conf {key} = {value!r}: expected a value without spaces")
    return " ".join(f"--conf {key}={value}" for key, value in conf.items())


def entry_arguments(job: str, config: Config, target: Target, date: str | None) -> list[str]:
    """The job's command line, the same flags as running it locally."""
    if job == "ingest":
        return [
            "--bootstrap-servers", config.kafka.bootstrap_servers,
            "--topics", ",".join(config.kafka.topics),
            "--warehouse", target.warehouse,
            "--checkpoints", target.checkpoints,
            "--trigger", "available-now",
        ]  # fmt: skip
    if job == "maintain":
        return ["--warehouse", target.warehouse, "--checkpoints", target.checkpoints]
    return ["--date", check_date(date), "--warehouse", target.warehouse, "--config", JOB_CONFIG]


def check_date(date: str | None) -> str:
    """The reconcile day, or a one-line error naming the expected form."""
    if not date or not DATE_RE.match(date):
        raise ConfigError(f"--date {date!r}: reconcile needs a day as YYYY-MM-DD")
    return date


def start_request(
    job: str,
    config: Config,
    bundle: Bundle,
    target: Target,
    date: str | None = None,
    delta_dir: str = RUNTIME_DELTA_DIR,
) -> dict[str, Any]:
    """The StartJobRun parameters (boto3 names) for ingest, reconcile or maintain."""
    name = f"kafka-dedup-{job}" + (f"-{date}" if date else "")
    entry = bundle_mod.uri(target.artifacts_uri, bundle.key(f"entry:{job}"))
    return {
        "applicationId": target.application_id,
        "executionRoleArn": target.execution_role_arn,
        "clientToken": str(uuid.uuid4()),
        "name": name,
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": entry,
                "entryPointArguments": entry_arguments(job, config, target, date),
                "sparkSubmitParameters": spark_submit_parameters(
                    config.aws, bundle, target, delta_dir
                ),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": target.logs_uri.rstrip("/") + "/"}
            }
        },
        "tags": {"project": "kafka-dedup", "job": job},
    }


def validate(emr: Any, request: dict[str, Any]) -> None:
    """Check the request against botocore's model of StartJobRun before anything is sent."""
    shape = emr.meta.service_model.operation_model("StartJobRun").input_shape
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise AwsError(f"invalid StartJobRun request: {' '.join(report.generate_report().split())}")


def start(emr: Any, request: dict[str, Any]) -> str:
    """Start the run and return its id."""
    validate(emr, request)
    with aws_errors(f"starting job run {request['name']}"):
        return str(emr.start_job_run(**request)["jobRunId"])


def status(emr: Any, application_id: str, run_id: str) -> dict[str, Any]:
    """The run as EMR Serverless describes it (state, stateDetails, durations...)."""
    with aws_errors(f"reading job run {run_id}"):
        return dict(emr.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"])


def _argument(arguments: list[str], flag: str) -> str | None:
    """The value after flag in a job run's entry-point arguments."""
    if flag in arguments[:-1]:
        return arguments[arguments.index(flag) + 1]
    return None


def report_folder(job_run: dict[str, Any], config: Config, warehouse: str) -> str | None:
    """Where a reconcile run writes report.html and summary.json; None for other jobs."""
    from kafka_dedup.aws.nightly import previous_day
    from kafka_dedup.reconcile import settings

    driver = job_run.get("jobDriver", {}).get("sparkSubmit", {})
    arguments = list(driver.get("entryPointArguments") or [])
    day = _argument(arguments, "--date")
    scheduled = _argument(arguments, "--scheduled-time")
    if day is None and scheduled is not None and not scheduled.startswith("<"):
        day = previous_day(scheduled)
    if day is None:
        return None
    report_dir = config.reconcile.report_dir
    return settings.report_folder(report_dir, _argument(arguments, "--warehouse") or warehouse, day)


def driver_log(s3: Any, logs_uri: str, application_id: str, run_id: str, stream: str) -> str:
    """The driver's stdout or stderr, which EMR Serverless writes gzipped under the log URI."""
    bucket, prefix = split_s3_uri(logs_uri, "aws.logs_uri")
    key = "/".join(
        part
        for part in (prefix, "applications", application_id, "jobs", run_id, "SPARK_DRIVER")
        if part
    )
    key = f"{key}/{stream}.gz"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise AwsError(
                f"no driver {stream} at s3://{bucket}/{key} yet; logs appear once the driver "
                "has started (check `kafka-dedup aws status`)"
            ) from None
        with aws_errors(f"reading s3://{bucket}/{key}"):
            raise
    return gzip.decompress(body).decode("utf-8", errors="replace")
