"""`kafka-dedup aws deploy` against a local moto server: change sets, events, real resources.

moto creates the template's S3, KMS, IAM, DynamoDB and CloudWatch Logs resources and skips the
types it does not implement (EMR Serverless application, Scheduler schedules, bucket policies);
those are checked on the template itself in tests/unit/test_aws_template.py.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cfnlint.decode import decode_str

from kafka_dedup import cli, paths
from tests.aws_fixtures import aws_config_file, client, make_bucket, write_text

TEMPLATE = paths.project_root() / "infra" / "aws" / "kafka-dedup.yaml"
OUTPUT_PLACES = ("WarehouseUri", "CheckpointsUri", "ReportsUri", "ArtifactsUri", "LogsUri")
RELEASE = "emr-spark-8.0.1"
RETENTION_DAYS = 30


def test_deploy_creates_the_stack_then_adds_the_bundles_schedules(
    moto_endpoint: str, aws_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = f"kd-{uuid.uuid4().hex[:8]}"
    # moto returns no stack outputs (the application is not modelled): name the bundle bucket
    artifacts = make_bucket(moto_endpoint, f"{stack}-artifacts")
    # a release and a retention other than the template's defaults: they must reach the stack
    config = aws_config_file(
        tmp_path / "kafka-dedup.toml", moto_endpoint, aws_bundle_dir, stack_name=stack,
        artifacts_uri=f"s3://{artifacts}/kafka-dedup", warehouse=f"s3a://{stack}-d/warehouse",
        checkpoints=f"s3a://{stack}-d/checkpoints", release_label=RELEASE,
        parameters={"LogRetentionDays": str(RETENTION_DAYS)},
    )  # fmt: skip

    assert cli.main(["--config", str(config), "aws", "deploy"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"stack {stack}: updated"
    progress = captured.err.splitlines()
    assert progress[0] == f"creating stack {stack}"
    assert "  Add     LogStoreTable (AWS::DynamoDB::Table)" in progress
    assert any(
        f"CREATE_COMPLETE      {stack} (AWS::CloudFormation::Stack)" in line for line in progress
    )
    assert f"updating stack {stack} with the bundle's schedules" in progress
    assert any(
        f"UPDATE_COMPLETE      {stack} (AWS::CloudFormation::Stack)" in line for line in progress
    )

    cfn = client("cloudformation", moto_endpoint)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "UPDATE_COMPLETE"
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    manifest = {
        a["role"]: a["key"] for a in json.loads((aws_bundle_dir / "bundle.json").read_text())
    }
    assert params["IngestEntryPoint"] == f"s3://{artifacts}/kafka-dedup/{manifest['entry:ingest']}"
    assert params["ReconcileEntryPoint"] == (
        f"s3://{artifacts}/kafka-dedup/{manifest['entry:nightly_reconcile']}"
    )
    assert params["MaintainEntryPoint"] == (
        f"s3://{artifacts}/kafka-dedup/{manifest['entry:maintain']}"
    )
    # the schedules' runs find every archive and jar they name in the bundle bucket
    named = re.findall(r"s3://[^\s,#]+", params["SparkSubmitParameters"])
    assert f"s3://{artifacts}/kafka-dedup/{manifest['python']}" in named
    for uri in named:
        client("s3", moto_endpoint).head_object(Bucket=artifacts, Key=uri.split("/", 3)[3])
    assert params["ReleaseLabel"] == RELEASE
    assert params["KafkaBootstrapServers"] == "b-1.kafka.internal:9098"

    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["LogicalResourceId"]
    }
    assert_data_bucket_encrypted_with_the_stack_key(moto_endpoint, resources)
    assert_log_store_table(moto_endpoint, resources["LogStoreTable"])
    assert_job_role_scoped_to_the_stack(moto_endpoint, resources)
    groups = client("logs", moto_endpoint).describe_log_groups(
        logGroupNamePrefix=resources["LogGroup"]
    )
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups["logGroups"]] == [
        (resources["LogGroup"], RETENTION_DAYS)
    ]


def assert_data_bucket_encrypted_with_the_stack_key(
    endpoint: str, resources: dict[str, str]
) -> None:
    s3 = client("s3", endpoint)
    # moto's DescribeKey fails on keys created by CloudFormation; ListKeys has the ARN too
    keys = client("kms", endpoint).list_keys()["Keys"]
    (key_arn,) = [k["KeyArn"] for k in keys if k["KeyId"] == resources["DataKey"]]
    for bucket in ("DataBucket", "ArtifactsBucket"):
        rules = s3.get_bucket_encryption(Bucket=resources[bucket])[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }


def assert_log_store_table(endpoint: str, table_name: str) -> None:
    table = client("dynamodb", endpoint).describe_table(TableName=table_name)["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "tablePath", "KeyType": "HASH"},
        {"AttributeName": "fileName", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def assert_job_role_scoped_to_the_stack(endpoint: str, resources: dict[str, str]) -> None:
    iam = client("iam", endpoint)
    document = as_json(
        iam.get_role_policy(RoleName=resources["JobRole"], PolicyName="data")["PolicyDocument"]
    )
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    # exactly the places the stack's outputs send the jobs to (moto computes no outputs:
    # they are read from the template and filled with the stack's real bucket names)
    uri = {name: output_uri(name, resources) for name in OUTPUT_PLACES}
    assert by_sid["ReadWriteTablesCheckpointsReports"]["Resource"] == [
        object_arn(uri["WarehouseUri"]),
        object_arn(uri["CheckpointsUri"]),
        object_arn(uri["ReportsUri"]),
    ]
    assert by_sid["ReadBundle"]["Resource"] == object_arn(uri["ArtifactsUri"])
    assert by_sid["WriteJobLogs"]["Resource"] == object_arn(uri["LogsUri"])
    assert by_sid["DeltaLogStore"]["Resource"].endswith(f":table/{resources['LogStoreTable']}")
    trust = as_json(iam.get_role(RoleName=resources["JobRole"])["Role"]["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Principal"] == {"Service": "emr-serverless.amazonaws.com"}


def test_deploy_fails_with_one_line_naming_the_rejected_resource(
    moto_endpoint: str, aws_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the project's template plus one resource the endpoint rejects
    real = (paths.project_root() / "infra" / "aws" / "kafka-dedup.yaml").read_text()
    bad_queue = (
        "  BadQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: 'no spaces!'\n"
    )
    template = write_text(
        tmp_path / "bad.yaml", real.replace("\nResources:\n", "\nResources:\n" + bad_queue, 1)
    )
    stack = f"kd-bad-{uuid.uuid4().hex[:8]}"
    config = aws_config_file(
        tmp_path / "kafka-dedup.toml", moto_endpoint, aws_bundle_dir, stack_name=stack,
        template=str(template),
    )  # fmt: skip
    assert cli.main(["--config", str(config), "aws", "deploy"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("kafka-dedup aws: error: executing change set kafka-dedup-")
    assert "InvalidParameterValue" in error


def output_uri(name: str, resources: dict[str, str]) -> str:
    """A template output (`!Sub s3://${Bucket}/prefix`) with the stack's physical names."""
    template, _ = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    text = template["Outputs"][name]["Value"]["Fn::Sub"]
    return re.sub(r"\$\{([^}]+)\}", lambda m: resources[m.group(1)], text)


def object_arn(uri: str) -> str:
    """s3://bucket/prefix or s3a://bucket/prefix -> the ARN of every object under the prefix."""
    return f"arn:aws:s3:::{uri.split('://', 1)[1]}/*"


def as_json(document: Any) -> Any:
    """A policy document: parsed, JSON text, or (moto, for CloudFormation-made inline policies)
    the text of a Python dict."""
    if not isinstance(document, str):
        return document
    text = unquote(document)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return ast.literal_eval(text)
