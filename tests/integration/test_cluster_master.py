"""Running on a cluster you already have: spark.master from the environment, a flag or the config.

The dev install's commands, each as its own process, against a standalone cluster of two
worker JVMs: ingest (KAFKA_DEDUP_SPARK__MASTER), reconcile (--master) and sql (the config file's
[spark] master). The master must list each application as finished, and the working folder the
commands ran in must stay empty: reports and tables go under the warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kafka_dedup import cli
from kafka_dedup.cluster import ClusterState
from kafka_dedup.commands.common import load_config
from kafka_dedup.kafka import broker
from tests.integration.cluster_fixtures import finished_apps
from tests.integration.test_aws_s3_delta import EVENTS, produce_small_topic

pytestmark = pytest.mark.integration
DAY = "2026-11-25"


def kafka_dedup(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI as a new process (its own driver JVM); its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "kafka_dedup.cli", *argv],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["ingest", "--master", "spark://h:7077"],
        ["reconcile", "--date", DAY, "--master", "spark://h:7077"],
        ["sql", "SELECT 1", "--master", "spark://h:7077"],
        ["forensics", "--master", "spark://h:7077", "summary"],
    ],
)
def test_every_spark_command_takes_master(argv: list[str]) -> None:
    args = cli.build_parser(argv).parse_args(argv)
    assert load_config(args, {}).spark.master == "spark://h:7077"


@pytest.mark.cluster
def test_dev_install_commands_run_on_the_cluster(
    spark_cluster: ClusterState, kafka_bootstrap: str, tmp_path: Path
) -> None:
    master = spark_cluster.master_url
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    produce_small_topic(kafka_bootstrap, topic)
    warehouse, checkpoints = tmp_path / "warehouse", tmp_path / "checkpoints"
    cwd = tmp_path / "cwd"  # where the user stands: nothing may land here
    cwd.mkdir()
    before = len(finished_apps(spark_cluster))

    ingested = kafka_dedup(
        cwd, "ingest", "--bootstrap-servers", kafka_bootstrap, "--topics", topic,
        "--warehouse", str(warehouse), "--checkpoints", str(checkpoints),
        env={"KAFKA_DEDUP_SPARK__MASTER": master},
    )  # fmt: skip
    assert "read 5, malformed 1," in ingested and f"events inserted {len(EVENTS)}," in ingested

    kafka_dedup(
        cwd, "reconcile", "--date", DAY, "--warehouse", str(warehouse), "--master", master,
        "--as-of", "2026-11-27T00:00:00Z", "--json",
    )  # fmt: skip
    assert (warehouse / "_reports" / DAY / "summary.json").is_file()

    config = tmp_path / "cluster.toml"
    config.write_text(f'[spark]\nmaster = "{master}"\n')
    counted = kafka_dedup(
        cwd, "--config", str(config), "sql", "SELECT count(*) AS n FROM events",
        "--warehouse", str(warehouse), "--engine", "spark", "--format", "csv",
    )  # fmt: skip
    assert counted.split() == ["n", str(len(EVENTS))]

    apps = finished_apps(spark_cluster)
    assert len(apps) - before == 3
    assert {app["name"] for app in apps} == {"kafka-dedup"}
    assert sorted(p.name for p in cwd.iterdir()) == []


def test_cluster_command_starts_reports_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(broker.free_port())
    where = ["--port", port, "--data-dir", str(tmp_path / "cluster")]
    try:
        assert cli.main(["cluster", "start", "--workers", "2", *where]) == 0
        assert capsys.readouterr().out == f"spark://127.0.0.1:{port}\n"
        assert cli.main(["cluster", "status", *where]) == 0
        assert "2 of 2 workers alive, 2 cores" in capsys.readouterr().out
        # a second start finds the running cluster and starts nothing
        assert cli.main(["cluster", "start", *where]) == 0
        assert capsys.readouterr().out == f"spark://127.0.0.1:{port}\n"
    finally:
        assert cli.main(["cluster", "stop", *where]) == 0
    assert cli.main(["cluster", "status", *where]) == 3
    assert capsys.readouterr().out.startswith("not running")
    assert broker.port_free(int(port))
