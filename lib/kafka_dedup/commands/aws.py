"""Run the jobs on EMR Serverless, with AWS credentials from the standard chain only.

kafka-dedup aws deploy                         create/update the CloudFormation stack (change set)
kafka-dedup aws package [--no-upload]          build the job bundle and upload what S3 lacks
kafka-dedup aws submit ingest                  start an available-now ingestion run
kafka-dedup aws submit reconcile --date D      start the reconciliation of day D
kafka-dedup aws submit maintain                start a table maintenance run (compaction, VACUUM)
kafka-dedup aws status RUN_ID [--wait]         state of a run (exit 0 success, 1 failed, 3 running)
kafka-dedup aws logs RUN_ID [--stderr]         the driver's output, fetched from S3

For a reconcile run, status and logs also print where its report and summary.json are.

Settings come from the [aws] config section, else from the stack's outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

from kafka_dedup import log
from kafka_dedup.commands.common import load_config
from kafka_dedup.config import Config

FLAGS = {"stack_name": ("aws", "stack_name"), "region": ("aws", "region")}
EXIT_FAILED = 1
EXIT_RUNNING = 3
POLL_S = 15.0
logger = log.get(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack-name", default=argparse.SUPPRESS, help="CloudFormation stack (default kafka-dedup)"
    )
    parser.add_argument(
        "--region", default=argparse.SUPPRESS, help="AWS region (default: the standard AWS chain)"
    )
    actions = parser.add_subparsers(dest="aws_action", metavar="ACTION", required=True)
    actions.add_parser("deploy", help="create or update the stack, then the schedules")
    package = actions.add_parser("package", help="build the job bundle and upload it")
    package.add_argument("--no-upload", action="store_true", help="build locally only")
    submit = actions.add_parser("submit", help="start a job run and print its id")
    submit.add_argument("job", choices=("ingest", "reconcile", "maintain"))
    submit.add_argument("--date", help="reconcile: the day to check, YYYY-MM-DD")
    submit.add_argument("--wait", action="store_true", help="wait until the run ends")
    status = actions.add_parser("status", help="state of a job run")
    status.add_argument("run_id", metavar="RUN_ID")
    status.add_argument("--wait", action="store_true", help="wait until the run ends")
    logs = actions.add_parser("logs", help="the driver's stdout (or stderr) from S3")
    logs.add_argument("run_id", metavar="RUN_ID")
    logs.add_argument("--stderr", action="store_true", help="print stderr instead of stdout")


def run(args: argparse.Namespace) -> int:
    # imported here: the job entry points load every command module and never need boto3's
    from kafka_dedup.aws import workflow
    from kafka_dedup.aws.clients import AwsError

    config = load_config(args, FLAGS)
    action = args.aws_action
    if action == "deploy":
        result = workflow.deploy(config)
        print(f"stack {config.aws.stack_name}: {result}")
        return 0
    if action == "package":
        need = ("warehouse", "checkpoints") if args.no_upload else workflow.PACKAGE_NEEDS
        workflow.package(config, workflow.target(config, need), upload=not args.no_upload)
        return 0
    if action == "submit":
        if args.job != "reconcile" and args.date:
            raise SystemExit("kafka-dedup aws: error: --date applies to reconcile only")
        run_id, _ = workflow.submit(config, args.job, args.date)
        print(run_id)
        return _follow(config, run_id) if args.wait else 0
    if action == "status":
        read_status = workflow.status_reader(config)
        code = _follow(config, args.run_id) if args.wait else None
        job_run = read_status(args.run_id)
        code = _show(job_run, args.run_id) if code is None else code
        for line in workflow.report_lines(config, job_run):
            print(line)
        return code
    print(workflow.logs(config, args.run_id, "stderr" if args.stderr else "stdout"), end="")
    # logged (stderr): stdout stays the driver's output, byte for byte; a run EMR Serverless
    # has forgotten (expired) has only its log left
    with contextlib.suppress(AwsError):
        for line in workflow.report_lines(config, workflow.status_reader(config)(args.run_id)):
            logger.info(line)
    return 0


def _show(job_run: dict[str, Any], run_id: str) -> int:
    from kafka_dedup.aws.jobrun import TERMINAL_FAILED, TERMINAL_OK

    state = job_run.get("state", "UNKNOWN")
    details = job_run.get("stateDetails") or ""
    seconds = job_run.get("totalExecutionDurationSeconds")
    took = f", {seconds}s" if seconds is not None else ""
    print(f"{run_id} {state}{took}" + (f": {details}" if details else ""))
    if state in TERMINAL_OK:
        return 0
    return EXIT_FAILED if state in TERMINAL_FAILED else EXIT_RUNNING


def _follow(config: Config, run_id: str) -> int:
    from kafka_dedup.aws import workflow

    read_status = workflow.status_reader(config)  # one stack lookup, not one per poll
    while True:
        code = _show(read_status(run_id), run_id)
        if code != EXIT_RUNNING:
            return code
        time.sleep(POLL_S)
