"""The operations behind `kafka-dedup aws ...`: package, deploy, submit, status, logs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka_dedup import log, paths
from kafka_dedup.aws import bundle as bundle_mod
from kafka_dedup.aws import deploy as deploy_mod
from kafka_dedup.aws import jobconfig, jobrun, pydeps
from kafka_dedup.aws.bundle import Bundle
from kafka_dedup.aws.clients import AwsError, client, session
from kafka_dedup.aws.stack import LOG_STORE_OUTPUT, Target, resolve, stack_outputs
from kafka_dedup.config import Config

logger = log.get(__name__)
PACKAGE_NEEDS = ("artifacts_uri", "warehouse", "checkpoints")
RUN_NEEDS = (
    "application_id",
    "execution_role_arn",
    "artifacts_uri",
    "logs_uri",
    "warehouse",
    "checkpoints",
)


def target(config: Config, need: tuple[str, ...]) -> Target:
    """Deployment coordinates from [aws], falling back to the stack's outputs."""
    outputs: dict[str, str] = {}
    if not all(getattr(config.aws, key) for key in need) or not config.s3.dynamodb_log_store_table:
        outputs = stack_outputs(client(config.aws, "cloudformation"), config.aws.stack_name)
    if config.s3.dynamodb_log_store_table:
        outputs[LOG_STORE_OUTPUT] = config.s3.dynamodb_log_store_table
    return resolve(config.aws, outputs, need)


def region(config: Config) -> str:
    name = session(config.aws).region_name
    if not name:
        raise AwsError("no AWS region; set [aws] region, KAFKA_DEDUP_AWS__REGION or AWS_REGION")
    return str(name)


def package(config: Config, where: Target, upload: bool = True) -> Bundle:
    """Build the bundle for this deployment and (by default) upload what S3 lacks."""
    bundle_dir = Path(config.aws.bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    deps = pydeps.staged_dependencies(config.aws, bundle_dir)
    sections = jobconfig.job_sections(
        config, where.warehouse, where.checkpoints, where.log_store_table, region(config)
    )
    bundle = bundle_mod.build(config.aws, jobconfig.render(sections), deps)
    total = sum(a.size for a in bundle.artifacts)
    logger.info(f"bundle: {len(bundle.artifacts)} files, {total:,} bytes in {bundle_dir / 'dist'}")
    if upload:
        s3 = client(config.aws, "s3")
        uploaded, skipped = bundle_mod.upload(s3, bundle, where.artifacts_uri)
        logger.info(f"uploaded {uploaded}, already there {skipped}, under {where.artifacts_uri}")
    return bundle


def stack_parameters(config: Config) -> dict[str, str]:
    """Parameters every deploy passes (CloudFormation resets omitted ones to their defaults)."""
    architecture = "ARM64" if "aarch64" in config.aws.platform else "X86_64"
    return {
        "ReleaseLabel": config.aws.release_label,
        "Architecture": architecture,
        "KafkaBootstrapServers": config.kafka.bootstrap_servers,
        "KafkaTopics": ",".join(config.kafka.topics),
        **config.aws.parameters,
    }


def bundle_parameters(config: Config, bundle: Bundle, where: Target) -> dict[str, str]:
    """The schedules' entry points and spark-submit parameters for this bundle."""
    return {
        "IngestEntryPoint": bundle_mod.uri(where.artifacts_uri, bundle.key("entry:ingest")),
        "ReconcileEntryPoint": bundle_mod.uri(
            where.artifacts_uri, bundle.key(f"entry:{bundle_mod.NIGHTLY}")
        ),
        "MaintainEntryPoint": bundle_mod.uri(where.artifacts_uri, bundle.key("entry:maintain")),
        "SparkSubmitParameters": jobrun.spark_submit_parameters(config.aws, bundle, where),
    }


def template_body(config: Config) -> str:
    path = Path(config.aws.template)
    if not path.is_absolute() and not path.is_file():
        path = paths.project_root() / path
    if not path.is_file():
        raise AwsError(f"aws.template = {config.aws.template!r}: file not found")
    return path.read_text(encoding="utf-8")


def deploy(config: Config) -> str:
    """Infrastructure first (buckets, application, role), then the bundle and the schedules."""
    cfn = client(config.aws, "cloudformation")
    body = template_body(config)
    name = config.aws.stack_name
    base = stack_parameters(config)
    if not deploy_mod.stack_status(cfn, name):
        logger.info(f"creating stack {name}")
        deploy_mod.deploy(cfn, name, body, base)
    where = target(config, PACKAGE_NEEDS)
    bundle = package(config, where)
    logger.info(f"updating stack {name} with the bundle's schedules")
    return deploy_mod.deploy(cfn, name, body, {**base, **bundle_parameters(config, bundle, where)})


def submit(config: Config, job: str, date: str | None) -> tuple[str, dict[str, Any]]:
    """Package (skipping what is uploaded), then StartJobRun; return the run id and request."""
    if job == "reconcile":
        jobrun.check_date(date)  # before anything is built or uploaded
    where = target(config, RUN_NEEDS)
    bundle = package(config, where)
    request = jobrun.start_request(job, config, bundle, where, date)
    return jobrun.start(client(config.aws, "emr-serverless"), request), request


def status_reader(config: Config) -> Callable[[str], dict[str, Any]]:
    """A run-status lookup with the application and client resolved once (polls reuse it)."""
    where = target(config, ("application_id",))
    emr = client(config.aws, "emr-serverless")
    return lambda run_id: jobrun.status(emr, where.application_id, run_id)


def logs(config: Config, run_id: str, stream: str) -> str:
    where = target(config, ("application_id", "logs_uri"))
    return jobrun.driver_log(
        client(config.aws, "s3"), where.logs_uri, where.application_id, run_id, stream
    )


def report_lines(config: Config, job_run: dict[str, Any]) -> list[str]:
    """`report: URI` and `summary: URI` of a reconcile run (none for other jobs)."""
    warehouse = config.aws.warehouse or config.storage.warehouse
    folder = jobrun.report_folder(job_run, config, warehouse)
    if folder is None:
        return []
    return [f"report: {folder}/report.html", f"summary: {folder}/summary.json"]
