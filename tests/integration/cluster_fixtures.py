"""One Spark standalone cluster for the test run: a master and two 1-core, 1 GB workers."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from kafka_dedup import cluster
from kafka_dedup.kafka import broker


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterState]:
    """Started as `make cluster-up` starts it (the same module), stopped after the run."""
    data_dir = tmp_path_factory.mktemp("cluster")
    state = cluster.start(data_dir, port=broker.free_port(), workers=2, worker_memory="1g")
    try:
        yield state
    finally:
        cluster.stop(data_dir)


def finished_apps(state: cluster.ClusterState) -> list[dict]:
    """The applications the master has seen end, as its JSON status lists them."""
    with urllib.request.urlopen(f"{state.web_ui}/json/", timeout=5) as response:
        return list(json.load(response).get("completedapps", []))
