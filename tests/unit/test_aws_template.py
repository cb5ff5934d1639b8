"""infra/aws/kafka-dedup.yaml: lint-clean, and the resources, parameters and IAM that matter."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode_str

from kafka_dedup import paths
from kafka_dedup.aws import jobrun, stack
from kafka_dedup.config import AwsConfig, load

TEMPLATE = paths.project_root() / "infra" / "aws" / "kafka-dedup.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert errors == []
    return decoded


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every statement of the role's inline policies, by Sid."""
    return {
        s["Sid"]: s
        for policy in role["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    }


def test_outputs_include_every_one_the_cli_falls_back_on(template: dict[str, Any]) -> None:
    # `kafka-dedup aws ...` reads these outputs when [aws] leaves a setting empty
    read = {*stack.OUTPUT_FOR.values(), stack.LOG_STORE_OUTPUT}
    assert read <= set(template["Outputs"]), read - set(template["Outputs"])


def test_cfn_lint_reports_nothing() -> None:
    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_buckets_are_encrypted_versioned_private_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources_of(template, "AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "ArtifactsBucket", "LogsBucket"}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert set(props["PublicAccessBlockConfiguration"].values()) == {True}, name
        assert len(props["PublicAccessBlockConfiguration"]) == 4, name
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        # the log bucket receives S3 access logs, which support SSE-S3 only
        assert algorithm == ("AES256" if name == "LogsBucket" else "aws:kms"), name
        assert bucket["DeletionPolicy"] == "Retain", name
    policies = resources_of(template, "AWS::S3::BucketPolicy")
    for policy in policies.values():
        deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {p["Properties"]["Bucket"]["Ref"] for p in policies.values()} == set(buckets)


def test_application_is_parameterised_auto_stopping_capped_and_networked(
    template: dict[str, Any],
) -> None:
    (app,) = resources_of(template, "AWS::EMRServerless::Application").values()
    props = app["Properties"]
    assert props["ReleaseLabel"] == {"Ref": "ReleaseLabel"}
    # the same runtime whether the stack is deployed by the CLI or by hand
    assert template["Parameters"]["ReleaseLabel"]["Default"] == AwsConfig().release_label
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"]["Enabled"] is True
    assert props["MaximumCapacity"] == {
        "Cpu": {"Ref": "MaxCpu"},
        "Memory": {"Ref": "MaxMemory"},
        "Disk": {"Ref": "MaxDisk"},
    }
    network = props["NetworkConfiguration"]["Fn::If"]
    assert network[0] == "HasVpc"
    assert network[1]["SecurityGroupIds"] == [{"Ref": "JobSecurityGroup"}]
    s3_logs = props["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"]
    assert s3_logs == {"Fn::Sub": "s3://${LogsBucket}/emr-serverless/"}
    egress = template["Resources"]["JobSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [(e["FromPort"], e["ToPort"], e["CidrIp"]) for e in egress] == [
        ({"Ref": "KafkaPortFrom"}, {"Ref": "KafkaPortTo"}, {"Ref": "KafkaCidr"}),
        (443, 443, "0.0.0.0/0"),
    ]


def test_kafka_connection_and_auth_are_parameters(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["KafkaAuth"]["AllowedValues"] == ["NONE", "MSK_IAM", "SASL_SSL"]
    for name in ("KafkaBootstrapServers", "KafkaTopics", "MskClusterArn", "KafkaSecretArn"):
        assert params[name]["Type"] == "String", name
    msk = template["Resources"]["JobRoleMskPolicy"]
    assert msk["Condition"] == "UsesMskIam"
    secret = template["Resources"]["JobRoleSecretPolicy"]
    assert secret["Condition"] == "UsesSecret"
    (read_secret,) = secret["Properties"]["PolicyDocument"]["Statement"]
    assert read_secret["Action"] == "secretsmanager:GetSecretValue"
    assert read_secret["Resource"] == {"Ref": "KafkaSecretArn"}


def test_job_role_is_limited_to_the_project_prefixes_table_key_and_logs(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["JobRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    by_sid = statements(role)
    assert by_sid["ReadWriteTablesCheckpointsReports"]["Resource"] == [
        {"Fn::Sub": "${DataBucket.Arn}/warehouse/*"},
        {"Fn::Sub": "${DataBucket.Arn}/checkpoints/*"},
        {"Fn::Sub": "${DataBucket.Arn}/reports/*"},
    ]
    assert by_sid["ReadBundle"]["Action"] == "s3:GetObject"
    assert by_sid["ReadBundle"]["Resource"] == {"Fn::Sub": "${ArtifactsBucket.Arn}/kafka-dedup/*"}
    assert by_sid["WriteJobLogs"]["Resource"] == {"Fn::Sub": "${LogsBucket.Arn}/emr-serverless/*"}
    assert by_sid["DeltaLogStore"]["Resource"] == {"Fn::GetAtt": ["LogStoreTable", "Arn"]}
    # S3DynamoDBLogStore needs exactly these calls on an existing table (no CreateTable)
    assert sorted(by_sid["DeltaLogStore"]["Action"]) == [
        "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
    ]  # fmt: skip
    for sid, statement in by_sid.items():
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions), sid
        assert statement["Resource"] != "*", sid


def test_log_store_table_matches_what_delta_expects(template: dict[str, Any]) -> None:
    props = template["Resources"]["LogStoreTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "tablePath", "KeyType": "HASH"},
        {"AttributeName": "fileName", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expireTime", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_schedules_start_job_runs_with_the_bundle(template: dict[str, Any]) -> None:
    schedules = resources_of(template, "AWS::Scheduler::Schedule")
    assert set(schedules) == {"IngestSchedule", "ReconcileSchedule", "MaintainSchedule"}
    expressions = {k: v["Properties"]["ScheduleExpression"]["Ref"] for k, v in schedules.items()}
    assert expressions == {
        "IngestSchedule": "IngestScheduleExpression",
        "ReconcileSchedule": "ReconcileScheduleExpression",
        "MaintainSchedule": "MaintainScheduleExpression",
    }
    params = template["Parameters"]
    assert params["IngestScheduleExpression"]["Default"] == "rate(1 hour)"
    assert params["ReconcileScheduleExpression"]["Default"] == "cron(30 2 * * ? *)"
    # weekly, after the nightly reconcile of that day
    assert params["MaintainScheduleExpression"]["Default"] == "cron(0 4 ? * SUN *)"
    # a stack deployed by hand with an older bundle (no maintain entry point) gets no schedule
    assert schedules.pop("MaintainSchedule")["Condition"] == "HasMaintainBundle"
    assert template["Conditions"]["HasMaintainBundle"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MaintainEntryPoint"}, ""]}]
    }
    for schedule in schedules.values():
        assert schedule["Condition"] == "HasBundle"
        target = schedule["Properties"]["Target"]
        assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun"
        assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    scheduler = statements(template["Resources"]["SchedulerRole"])
    assert scheduler["StartJobRuns"]["Action"] == "emr-serverless:StartJobRun"
    assert scheduler["PassJobRole"]["Resource"] == {"Fn::GetAtt": ["JobRole", "Arn"]}


def substituted_input(template: dict[str, Any], name: str, values: dict[str, str]) -> Any:
    """The schedule's Input with ${...} replaced, as EventBridge Scheduler would send it."""
    text = template["Resources"][name]["Properties"]["Target"]["Input"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text))


def test_schedule_inputs_are_valid_start_job_run_requests(template: dict[str, Any]) -> None:
    import boto3
    from botocore.validate import ParamValidator

    values = {
        "Application": "00abc", "JobRole.Arn": "arn:aws:iam::123456789012:role/job",
        "IngestEntryPoint": "s3://a/jobs/1/ingest.py", "ReconcileEntryPoint": "s3://a/jobs/2/n.py",
        "MaintainEntryPoint": "s3://a/jobs/3/maintain.py",
        "SparkSubmitParameters": "--conf spark.archives=s3://a/p.tar.gz#pyenv",
        "KafkaBootstrapServers": "b-1:9098", "KafkaTopics": "orders", "DataBucket": "data",
        "LogsBucket": "logs", "ArtifactsBucket": "artifacts",
    }  # fmt: skip
    shape = (
        boto3.client("emr-serverless", region_name="us-east-1")
        .meta.service_model.operation_model("StartJobRun")
        .input_shape
    )
    for name in ("IngestSchedule", "ReconcileSchedule", "MaintainSchedule"):
        request = camel_case(substituted_input(template, name, values))
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
    ingest = substituted_input(template, "IngestSchedule", values)
    # the schedule starts ingest with the flags `kafka-dedup aws submit ingest` sends, on the
    # tables and checkpoints the stack's outputs name
    where = {k: output_value(template, v, values) for k, v in stack.OUTPUT_FOR.items()}
    config = load(
        environ={}, flags={"kafka": {"bootstrap_servers": "b-1:9098", "topics": "orders"}}
    )
    assert ingest["JobDriver"]["SparkSubmit"]["EntryPointArguments"] == jobrun.entry_arguments(
        "ingest", config, stack.Target(**where), None
    )
    maintain = substituted_input(template, "MaintainSchedule", values)
    assert maintain["JobDriver"]["SparkSubmit"]["EntryPointArguments"] == jobrun.entry_arguments(
        "maintain", config, stack.Target(**where), None
    )
    assert maintain["JobDriver"]["SparkSubmit"]["EntryPoint"] == values["MaintainEntryPoint"]
    nightly = substituted_input(template, "ReconcileSchedule", values)
    assert nightly["JobDriver"]["SparkSubmit"]["EntryPointArguments"] == [
        "--scheduled-time", "<aws.scheduler.scheduled-time>",
    ]  # fmt: skip
    assert nightly["ClientToken"] == "<aws.scheduler.execution-id>"


def output_value(template: dict[str, Any], name: str, values: dict[str, str]) -> str:
    """A stack output's value with ${...} replaced (outputs that are not text: the name)."""
    value = template["Outputs"][name]["Value"]
    if not isinstance(value, dict) or "Fn::Sub" not in value:
        return name
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], value["Fn::Sub"])


def camel_case(value: Any) -> Any:
    """Scheduler's SDK-style PascalCase member names -> the API model's camelCase ones."""
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: camel_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value
