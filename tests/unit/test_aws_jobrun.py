"""StartJobRun requests, the job-run config file, nightly dates and the bundled dependencies."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import boto3
import pytest
from packaging.requirements import Requirement

from kafka_dedup import cli
from kafka_dedup import config as config_mod
from kafka_dedup.aws import jobconfig, jobrun, nightly, pydeps
from kafka_dedup.aws.bundle import Artifact, Bundle
from kafka_dedup.aws.clients import AwsError, split_s3_uri
from kafka_dedup.aws.stack import LOG_STORE_OUTPUT, OUTPUT_FOR, Target, resolve
from kafka_dedup.config import AwsConfig, Config, ConfigError, tomllib

TARGET = Target(
    application_id="00fabc123",
    execution_role_arn="arn:aws:iam::123456789012:role/kafka-dedup-job",
    artifacts_uri="s3://artifacts/kafka-dedup",
    logs_uri="s3://logs/emr-serverless",
    warehouse="s3a://data/warehouse",
    checkpoints="s3a://data/checkpoints",
    log_store_table="kafka-dedup-LogStoreTable-1",
)
BUNDLE = Bundle(
    tuple(
        Artifact(role, f"/tmp/{key}", key, "0" * 64, 1)
        for role, key in [
            ("python", "python/pyenv-1111.tar.gz"),
            ("config", "config/conf-2222.tar.gz"),
            ("entry:ingest", "jobs/3333/ingest.py"),
            ("entry:reconcile", "jobs/4444/reconcile.py"),
            ("entry:nightly_reconcile", "jobs/5555/nightly_reconcile.py"),
            ("entry:maintain", "jobs/8888/maintain.py"),
            ("jar", "jars/6666/spark-sql-kafka-0-10_2.13-4.0.2.jar"),
            ("jar", "jars/7777/kafka-clients-3.9.1.jar"),
        ]
    )
)


def make_config(**aws: object) -> Config:
    return config_mod.load(
        environ={},
        flags={"kafka": {"bootstrap_servers": "b-1:9098,b-2:9098", "topics": "orders,refunds"},
               "aws": aws},
    )  # fmt: skip


def emr_client():  # noqa: ANN201
    return boto3.client("emr-serverless", region_name="us-east-1")


def submit_conf(request: dict[str, Any]) -> dict[str, str]:
    """The `--conf key=value` pairs of the request's sparkSubmitParameters."""
    params = request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    assert params.startswith("--conf ")
    return dict(pair.split("=", 1) for pair in params[len("--conf ") :].split(" --conf "))


def archive_aliases(conf: dict[str, str]) -> dict[str, str]:
    """spark.archives as {archive URI: the folder it is unpacked into}."""
    return dict(item.split("#", 1) for item in conf["spark.archives"].split(","))


def parsed(job: str, request: dict[str, Any]) -> argparse.Namespace:
    """The run's entry-point arguments as the job's own command line reads them."""
    arguments = request["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    return cli.build_parser([job]).parse_args([job, *arguments])


def bundle_uri(role: str) -> str:
    return f"{TARGET.artifacts_uri}/{BUNDLE.key(role)}"


def test_ingest_request_is_valid_and_carries_the_bundle_locations() -> None:
    config = make_config()
    request = jobrun.start_request("ingest", config, BUNDLE, TARGET)
    jobrun.validate(emr_client(), request)  # raises on anything botocore's model rejects
    assert request["jobDriver"]["sparkSubmit"]["entryPoint"] == bundle_uri("entry:ingest")
    # the flags mean to `kafka-dedup ingest` what the deployment says
    args = parsed("ingest", request)
    assert (args.bootstrap_servers, args.topics) == ("b-1:9098,b-2:9098", "orders,refunds")
    assert (args.warehouse, args.checkpoints) == (TARGET.warehouse, TARGET.checkpoints)
    assert args.trigger == "available-now"  # a scheduled run must end once caught up

    conf = submit_conf(request)
    aliases = archive_aliases(conf)
    assert set(aliases) == {bundle_uri("python"), bundle_uri("config")}
    # the library is imported from where the Python archive is unpacked, on both sides
    python_dir = f"./{aliases[bundle_uri('python')]}"
    assert conf["spark.emr-serverless.driverEnv.PYTHONPATH"] == python_dir
    assert conf["spark.executorEnv.PYTHONPATH"] == python_dir
    config_file = conf["spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG"]
    assert config_file.startswith(f"./{aliases[bundle_uri('config')]}/")
    # the bundle's jars ship from S3; Delta's (and nothing else) come from the runtime's disk
    jars = conf["spark.jars"].split(",")
    shipped = [f"{TARGET.artifacts_uri}/{key}" for key in BUNDLE.keys("jar")]
    assert jars[-len(shipped) :] == shipped
    runtime = jars[: -len(shipped)]
    names = [jar.rsplit("/", 1)[1] for jar in runtime]
    assert all(jar.startswith("/") for jar in runtime) and "delta-spark.jar" in names
    assert all(name.startswith("delta-") for name in names), names
    # the S3 + DynamoDB log store jar travels exactly when the stack has its table
    without = submit_conf(
        jobrun.start_request("ingest", config, BUNDLE, replace(TARGET, log_store_table=""))
    )["spark.jars"].split(",")
    (log_store_jar,) = set(jars) - set(without)
    assert "dynamodb" in log_store_jar and set(without) < set(jars)
    # no Glue or Hive metastore: the project rebuilds its catalog from the warehouse
    assert conf["spark.sql.catalogImplementation"] == "in-memory"
    assert request["configurationOverrides"] == {
        "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": f"{TARGET.logs_uri}/"}}
    }
    assert request["applicationId"] == TARGET.application_id
    assert request["executionRoleArn"] == TARGET.execution_role_arn


def test_reconcile_request_passes_the_date_and_rejects_a_bad_one() -> None:
    request = jobrun.start_request("reconcile", make_config(), BUNDLE, TARGET, "2026-11-25")
    jobrun.validate(emr_client(), request)
    assert request["jobDriver"]["sparkSubmit"]["entryPoint"] == bundle_uri("entry:reconcile")
    args = parsed("reconcile", request)
    assert (args.date, args.warehouse) == ("2026-11-25", TARGET.warehouse)
    # the job reads the config file shipped in the config archive, as the driver env says
    conf = submit_conf(request)
    assert args.config == conf["spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG"]
    assert args.config.startswith(f"./{archive_aliases(conf)[bundle_uri('config')]}/")
    # two days' runs are told apart by name in the console
    other = jobrun.start_request("reconcile", make_config(), BUNDLE, TARGET, "2026-11-26")
    assert "2026-11-25" in request["name"] and request["name"] != other["name"]
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        jobrun.start_request("reconcile", make_config(), BUNDLE, TARGET, "25/11/2026")


def test_maintain_request_runs_on_the_deployment_tables_and_checkpoints() -> None:
    request = jobrun.start_request("maintain", make_config(), BUNDLE, TARGET)
    jobrun.validate(emr_client(), request)
    assert request["jobDriver"]["sparkSubmit"]["entryPoint"] == bundle_uri("entry:maintain")
    args = parsed("maintain", request)
    # the ingest's checkpoints: maintain reads its lease and watermark there
    assert (args.warehouse, args.checkpoints) == (TARGET.warehouse, TARGET.checkpoints)
    assert (args.table, args.dry_run) == (None, False)
    assert request["name"] == "kafka-dedup-maintain"
    assert request["tags"] == {"project": "kafka-dedup", "job": "maintain"}


def test_validate_rejects_what_the_service_model_forbids() -> None:
    request = jobrun.start_request("ingest", make_config(), BUNDLE, TARGET)
    request["jobDriver"]["sparkSubmit"]["entryPointArguments"] = "--trigger available-now"
    with pytest.raises(AwsError, match="invalid StartJobRun request"):
        jobrun.validate(emr_client(), request)


def test_spark_conf_extras_are_appended_and_must_not_contain_spaces() -> None:
    config = make_config(spark_conf={"spark.executor.memory": "8g"})
    params = jobrun.spark_submit_parameters(config.aws, BUNDLE, TARGET)
    assert params.endswith(" --conf spark.executor.memory=8g")
    bad = make_config(spark_conf={"spark.driver.extraJavaOptions": "-Da=1 -Db=2"})
    with pytest.raises(ConfigError, match="without spaces"):
        jobrun.spark_submit_parameters(bad.aws, BUNDLE, TARGET)


def test_job_config_round_trips_and_points_at_the_deployment() -> None:
    config = config_mod.apply(
        make_config(),
        {"reconcile": {"sources": [{"name": "payments", "format": "parquet",
                                    "path": "s3a://lake/charges/", "event_id_column": "event_id",
                                    "compare": {"payload.amount": "amount"},
                                    "expects_event_types": ["order.paid"]}]},
         "spark": {"master": "local[3]"}, "maintain": {"retention": "30 days"}},
        "the test",
    )  # fmt: skip
    sections = jobconfig.job_sections(
        config, TARGET.warehouse, TARGET.checkpoints, TARGET.log_store_table, "eu-west-1"
    )
    text = jobconfig.render(sections)
    loaded = config_mod.apply(Config(), tomllib.loads(text), "the rendered file")
    assert loaded.storage.warehouse == TARGET.warehouse
    assert loaded.storage.checkpoints == TARGET.checkpoints
    assert loaded.kafka.topics == config.kafka.topics
    assert loaded.s3.dynamodb_log_store_table == TARGET.log_store_table
    assert loaded.s3.region == "eu-west-1"
    # not shipped: spark-submit sets the master, so the job sees the default
    assert loaded.spark.master == Config().spark.master != config.spark.master
    assert loaded.reconcile == config.reconcile
    assert loaded.maintain == config.maintain  # the scheduled maintain keeps this window
    assert "[broker]" not in text and "[aws]" not in text


def test_job_config_refuses_credentials() -> None:
    config = config_mod.apply(
        make_config(),
        {"kafka": {"options": {"kafka.sasl.jaas.config": "ScramLoginModule password=x;"}}},
        "the test",
    )
    with pytest.raises(ConfigError, match=r"kafka\.options\.kafka\.sasl\.jaas\.config"):
        jobconfig.job_sections(config, "s3a://d/w", "s3a://d/c", "", "us-east-1")
    # MSK IAM's JAAS line names a login module and holds no secret: it may travel
    iam = config_mod.apply(
        make_config(),
        {"kafka": {"options": {
            "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;"}}},
        "the test",
    )  # fmt: skip
    sections = jobconfig.job_sections(iam, "s3a://d/w", "s3a://d/c", "", "us-east-1")
    assert sections["kafka"]["options"] == iam.kafka.options


@pytest.mark.parametrize(
    ("scheduled", "day"),
    [
        ("2026-11-26T02:30:00Z", "2026-11-25"),
        ("2028-03-01T00:00:00+00:00", "2028-02-29"),  # leap year, first minute of the day
        ("2027-01-01T23:59:59Z", "2026-12-31"),
    ],
)
def test_nightly_run_reconciles_the_day_before_the_scheduled_time(scheduled: str, day: str) -> None:
    assert nightly.previous_day(scheduled) == day


def test_nightly_rejects_a_time_that_is_not_iso() -> None:
    with pytest.raises(ConfigError, match="ISO-8601"):
        nightly.previous_day("<aws.scheduler.scheduled-time>")


def test_job_requirements_are_the_core_without_the_runtime_or_extras() -> None:
    from importlib import metadata

    resolve, without_deps = pydeps.job_requirements(AwsConfig())
    names = {Requirement(r).name for r in resolve}
    # the core, as declared; delta-spark needs the runtime's pyspark: pinned, no deps, and its
    # other requirement (importlib-metadata) resolved with the rest
    assert names == {"confluent-kafka", "boto3", "pydantic", "importlib-metadata"}
    assert without_deps == [f"delta-spark=={metadata.version('delta-spark')}"]
    # local tooling (every optional extra) stays out
    assert not names & {"duckdb", "deltalake", "psycopg", "tomli-w", "packaging", "pytest"}
    # on the runtime's 3.10 the tomli backport is needed although this 3.11 venv lacks it
    resolve_310, _ = pydeps.job_requirements(AwsConfig(python_version="3.10"))
    (backport,) = [Requirement(r) for r in resolve_310 if Requirement(r).name == "tomli"]
    assert str(backport.specifier) == ">=2.0"
    # pip's resolver is held to the versions the tests ran with
    assert f"boto3=={metadata.version('boto3')}" in pydeps.constraints()
    assert not any(pin.startswith("kafka-dedup==") for pin in pydeps.constraints())


def test_target_prefers_config_then_stack_outputs_and_names_what_is_missing() -> None:
    # the stack's output names are the code's own (the template declares each of them:
    # tests/unit/test_aws_template.py)
    outputs = {
        OUTPUT_FOR["application_id"]: "00out",
        OUTPUT_FOR["logs_uri"]: "s3://logs/emr",
        LOG_STORE_OUTPUT: "t1",
    }
    target = resolve(AwsConfig(application_id="00cfg"), outputs, ("application_id", "logs_uri"))
    assert (target.application_id, target.logs_uri, target.log_store_table) == (
        "00cfg", "s3://logs/emr", "t1",
    )  # fmt: skip
    with pytest.raises(AwsError, match=r"aws\.artifacts_uri, aws\.warehouse not set"):
        resolve(AwsConfig(), outputs, ("artifacts_uri", "warehouse"))
    assert split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    with pytest.raises(ConfigError, match="expected an S3 URI"):
        split_s3_uri("/local/path", "aws.logs_uri")
