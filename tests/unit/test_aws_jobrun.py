"""StartJobRun requests, the job-run config file, nightly dates and the bundled dependencies."""

from __future__ import annotations

import boto3
import pytest

from kafka_dedup import config as config_mod
from kafka_dedup.aws import jobconfig, jobrun, nightly, pydeps
from kafka_dedup.aws.bundle import Artifact, Bundle
from kafka_dedup.aws.clients import AwsError, split_s3_uri
from kafka_dedup.aws.stack import Target, resolve
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
            ("jar", "jars/6666/spark-sql-kafka-0-10_2.13-4.0.1.jar"),
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


def test_ingest_request_is_valid_and_carries_the_bundle_locations() -> None:
    request = jobrun.start_request("ingest", make_config(), BUNDLE, TARGET)
    jobrun.validate(emr_client(), request)  # raises on anything botocore's model rejects
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://artifacts/kafka-dedup/jobs/3333/ingest.py"
    assert driver["entryPointArguments"] == [
        "--bootstrap-servers", "b-1:9098,b-2:9098", "--topics", "orders,refunds",
        "--warehouse", "s3a://data/warehouse", "--checkpoints", "s3a://data/checkpoints",
        "--trigger", "available-now",
    ]  # fmt: skip
    conf = dict(
        pair.split("=", 1) for pair in driver["sparkSubmitParameters"].split(" --conf ")[1:]
    )
    assert driver["sparkSubmitParameters"].startswith("--conf spark.archives=")
    assert conf == {
        "spark.jars": "/usr/share/aws/delta/lib/delta-spark.jar,"
        "/usr/share/aws/delta/lib/delta-storage.jar,"
        "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar,"
        "s3://artifacts/kafka-dedup/jars/6666/spark-sql-kafka-0-10_2.13-4.0.1.jar,"
        "s3://artifacts/kafka-dedup/jars/7777/kafka-clients-3.9.1.jar",
        "spark.emr-serverless.driverEnv.PYTHONPATH": "./pyenv",
        "spark.executorEnv.PYTHONPATH": "./pyenv",
        "spark.emr-serverless.driverEnv.KAFKA_DEDUP_CONFIG": "./conf/kafka-dedup.toml",
        "spark.sql.catalogImplementation": "in-memory",
    }
    archives = driver["sparkSubmitParameters"].split(" --conf ")[0].split("=", 1)[1]
    assert archives == (
        "s3://artifacts/kafka-dedup/python/pyenv-1111.tar.gz#pyenv,"
        "s3://artifacts/kafka-dedup/config/conf-2222.tar.gz#conf"
    )
    assert request["configurationOverrides"] == {
        "monitoringConfiguration": {
            "s3MonitoringConfiguration": {"logUri": "s3://logs/emr-serverless/"}
        }
    }
    assert request["applicationId"] == "00fabc123"
    assert request["name"] == "kafka-dedup-ingest"


def test_reconcile_request_passes_the_date_and_rejects_a_bad_one() -> None:
    request = jobrun.start_request("reconcile", make_config(), BUNDLE, TARGET, "2026-11-25")
    jobrun.validate(emr_client(), request)
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"].endswith("/jobs/4444/reconcile.py")
    assert driver["entryPointArguments"] == [
        "--date", "2026-11-25", "--warehouse", "s3a://data/warehouse",
        "--config", "./conf/kafka-dedup.toml",
    ]  # fmt: skip
    assert request["name"] == "kafka-dedup-reconcile-2026-11-25"
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        jobrun.start_request("reconcile", make_config(), BUNDLE, TARGET, "25/11/2026")


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
                                    "expects_event_types": ["order.paid"]}]}},
        "the test",
    )  # fmt: skip
    sections = jobconfig.job_sections(
        config, TARGET.warehouse, TARGET.checkpoints, TARGET.log_store_table, "eu-west-1"
    )
    text = jobconfig.render(sections)
    loaded = config_mod.apply(Config(), tomllib.loads(text), "the rendered file")
    assert loaded.storage.warehouse == "s3a://data/warehouse"
    assert loaded.storage.checkpoints == "s3a://data/checkpoints"
    assert loaded.kafka.topics == ("orders", "refunds")
    assert loaded.s3.dynamodb_log_store_table == "kafka-dedup-LogStoreTable-1"
    assert loaded.s3.region == "eu-west-1"
    assert loaded.spark.master == "local[*]"  # not shipped: spark-submit sets the master
    assert loaded.reconcile == config.reconcile
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


def test_bundled_dependencies_exclude_the_runtime_and_pin_installed_versions() -> None:
    from importlib import metadata

    pins = pydeps.closure(AwsConfig())
    assert "pyspark" not in pins and "py4j" not in pins
    for name in ("delta-spark", "confluent-kafka", "boto3", "botocore"):
        assert pins[name] == f"{name}=={metadata.version(name)}"
    # on the runtime's 3.10 the tomli backport is needed although this 3.11 venv lacks it
    assert pydeps.closure(AwsConfig(python_version="3.10"))["tomli"] == "tomli>=2.0"
    assert "tomli" not in pins


def test_target_prefers_config_then_stack_outputs_and_names_what_is_missing() -> None:
    outputs = {"ApplicationId": "00out", "LogsUri": "s3://logs/emr", "LogStoreTable": "t1"}
    target = resolve(AwsConfig(application_id="00cfg"), outputs, ("application_id", "logs_uri"))
    assert (target.application_id, target.logs_uri, target.log_store_table) == (
        "00cfg", "s3://logs/emr", "t1",
    )  # fmt: skip
    with pytest.raises(AwsError, match=r"aws\.artifacts_uri, aws\.warehouse not set"):
        resolve(AwsConfig(), outputs, ("artifacts_uri", "warehouse"))
    assert split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    with pytest.raises(ConfigError, match="expected an S3 URI"):
        split_s3_uri("/local/path", "aws.logs_uri")
