"""Where the deployment lives: [aws] settings first, else the CloudFormation stack's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka_dedup.aws.clients import AwsError, aws_errors, split_s3_uri
from kafka_dedup.config import AwsConfig

# [aws] key -> stack output that supplies it when the key is empty
OUTPUT_FOR = {
    "application_id": "ApplicationId",
    "execution_role_arn": "JobRoleArn",
    "artifacts_uri": "ArtifactsUri",
    "logs_uri": "LogsUri",
    "warehouse": "WarehouseUri",
    "checkpoints": "CheckpointsUri",
}
LOG_STORE_OUTPUT = "LogStoreTable"


@dataclass(frozen=True)
class Target:
    """Everything a job run needs to know about the deployed resources."""

    application_id: str
    execution_role_arn: str
    artifacts_uri: str
    logs_uri: str
    warehouse: str
    checkpoints: str
    log_store_table: str = ""


def describe_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist."""
    try:
        with aws_errors(f"reading stack {stack_name}"):
            return dict(cfn.describe_stacks(StackName=stack_name)["Stacks"][0])
    except AwsError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs as {key: value}; empty when the stack does not exist."""
    outputs = (describe_stack(cfn, stack_name) or {}).get("Outputs") or []
    return {item["OutputKey"]: item["OutputValue"] for item in outputs}


def resolve(aws: AwsConfig, outputs: dict[str, str], need: tuple[str, ...]) -> Target:
    """The target from [aws] values, falling back to stack outputs; every key in need is set."""
    values = {}
    for key, output in OUTPUT_FOR.items():
        values[key] = getattr(aws, key) or outputs.get(output, "")
    missing = [key for key in need if not values[key]]
    if missing:
        keys = ", ".join(f"aws.{key}" for key in missing)
        raise AwsError(
            f"{keys} not set and stack {aws.stack_name} has no such output; run "
            "`kafka-dedup aws deploy` first or set them in the [aws] config section"
        )
    for key in ("artifacts_uri", "logs_uri"):
        if values[key]:
            split_s3_uri(values[key], f"aws.{key}")
    return Target(**values, log_store_table=outputs.get(LOG_STORE_OUTPUT, ""))
