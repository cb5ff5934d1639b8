"""Create or update the stack through a change set, logging stack events until it settles."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from kafka_dedup import log
from kafka_dedup.aws.clients import AwsError, aws_errors, one_line
from kafka_dedup.aws.stack import describe_stack

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
OK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
CAPABILITIES = ["CAPABILITY_IAM"]
logger = log.get(__name__)


class DeployError(AwsError):
    """The stack did not reach a complete state; the message carries the stack's own reason."""


def stack_status(cfn: Any, stack_name: str) -> str:
    """The stack's status, or '' when there is none (REVIEW_IN_PROGRESS: created, never run)."""
    stack = describe_stack(cfn, stack_name)
    if stack is None:
        return ""
    status = str(stack["StackStatus"])
    return "" if status == "REVIEW_IN_PROGRESS" else status


def deploy(
    cfn: Any,
    stack_name: str,
    template_body: str,
    parameters: dict[str, str],
    poll_s: float = 5.0,
    timeout_s: float = 3600.0,
) -> str:
    """Apply the template; return 'created', 'updated' or 'unchanged'."""
    previous = stack_status(cfn, stack_name)
    if previous == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} is ROLLBACK_COMPLETE from a failed creation; delete it "
            f"(aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
        )
    change_type = "UPDATE" if previous else "CREATE"
    name = f"kafka-dedup-{datetime.now(timezone.utc):%Y%m%d%H%M%S}"
    with aws_errors(f"creating change set {name} for {stack_name}"):
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=template_body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "project", "Value": "kafka-dedup"}],
        )
    change_set = _wait_for_change_set(cfn, stack_name, name, poll_s, timeout_s)
    if change_set is None:
        logger.info(f"stack {stack_name}: no changes")
        return "unchanged"
    for change in change_set.get("Changes", []):
        rc = change.get("ResourceChange", {})
        logger.info(
            f"  {rc.get('Action', '?'):<7} {rc.get('LogicalResourceId')} ({rc.get('ResourceType')})"
        )
    started = datetime.now(timezone.utc)
    with aws_errors(f"executing change set {name}"):
        cfn.execute_change_set(StackName=stack_name, ChangeSetName=name)
    status = _follow_events(cfn, stack_name, started, poll_s, timeout_s)
    if status not in OK_STATES:
        raise DeployError(f"stack {stack_name} ended {status}: {_failure_reason(cfn, stack_name)}")
    return "created" if change_type == "CREATE" else "updated"


def _wait_for_change_set(
    cfn: Any, stack_name: str, name: str, poll_s: float, timeout_s: float
) -> dict[str, Any] | None:
    """The change set once computed; None when it holds no changes (it is deleted then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with aws_errors(f"reading change set {name}"):
            change_set = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        status = change_set.get("Status")
        if status == "CREATE_COMPLETE":
            return dict(change_set)
        if status == "FAILED":
            reason = one_line(change_set.get("StatusReason", "no reason given"))
            if any(text in reason for text in NO_CHANGES):
                with aws_errors(f"deleting empty change set {name}"):
                    cfn.delete_change_set(StackName=stack_name, ChangeSetName=name)
                return None
            raise DeployError(f"change set {name} for {stack_name} failed: {reason}")
        if time.monotonic() > deadline:
            raise DeployError(f"change set {name} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def _follow_events(
    cfn: Any,
    stack_name: str,
    since: datetime,
    poll_s: float,
    timeout_s: float,
) -> str:
    """Log new stack events oldest first until the stack leaves *_IN_PROGRESS."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        for event in reversed(_events(cfn, stack_name)):
            if event["EventId"] in seen or event["Timestamp"] < since:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            logger.info(
                f"  {event['Timestamp']:%H:%M:%S} {event['ResourceStatus']:<20} "
                f"{event['LogicalResourceId']} ({event.get('ResourceType', '')})"
                + (f": {one_line(reason)}" if reason else "")
            )
        status = stack_status(cfn, stack_name)
        if not status.endswith("_IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def _events(cfn: Any, stack_name: str) -> list[dict[str, Any]]:
    with aws_errors(f"reading events of {stack_name}"):
        return list(cfn.describe_stack_events(StackName=stack_name)["StackEvents"])


def _failure_reason(cfn: Any, stack_name: str) -> str:
    """The first failed resource's reason: CloudFormation's own explanation of the rollback."""
    failed = [
        e
        for e in reversed(_events(cfn, stack_name))
        if e["ResourceStatus"].endswith("_FAILED") and e.get("ResourceStatusReason")
    ]
    if not failed:
        return "no resource reported a reason; see the stack's events"
    first = failed[0]
    return f"{first['LogicalResourceId']}: {one_line(first['ResourceStatusReason'])}"
