"""A local Spark standalone cluster: one master and N workers, each its own JVM.

Started with pyspark's own `bin/spark-class` (pip's pyspark ships no sbin/ scripts), bound to
127.0.0.1, with every file it writes (logs, executors' work folders, shuffle and temp files)
under one data folder. Its state (pids, ports) is kept in <data-dir>/cluster.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import pyspark

from kafka_dedup.errors import UserError
from kafka_dedup.kafka.kraft import HOST, free_port, port_free
from kafka_dedup.processes import pid_alive

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
STATE_FILE = "cluster.json"
DAEMON_MEMORY = "256m"  # the master's and workers' own heaps; executors get --worker-memory
STOP_TIMEOUT_S = 20
# executors' work folders (with their copies of the application's jars and archives) go once
# the application has ended for this long
WORKER_OPTS = "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=600"


class ClusterError(UserError):
    """The cluster cannot start or is not in the state asked for."""


@dataclass(frozen=True)
class ClusterState:
    master_url: str
    web_ui: str
    master_pid: int
    worker_pids: tuple[int, ...]
    data_dir: str


@dataclass(frozen=True)
class ClusterStatus:
    state: ClusterState | None
    alive_workers: int
    cores: int

    @property
    def running(self) -> bool:
        return self.state is not None and self.alive_workers == len(self.state.worker_pids)


def spark_home() -> Path:
    """pyspark's installation folder: the JVM side's SPARK_HOME (bin/spark-class, jars/)."""
    return Path(pyspark.__file__).resolve().parent


def read_state(data_dir: Path) -> ClusterState | None:
    """The recorded cluster, or None when none was started from data_dir."""
    try:
        raw = json.loads((data_dir.resolve() / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return ClusterState(**{**raw, "worker_pids": tuple(raw["worker_pids"])})


def _master_json(web_ui: str, timeout_s: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{web_ui}/json/", timeout=timeout_s) as response:
            return dict(json.load(response))
    except (OSError, ValueError):
        return None


def status(data_dir: Path) -> ClusterStatus:
    """What the master reports: workers alive and their cores."""
    state = read_state(data_dir)
    if state is None or not pid_alive(state.master_pid):
        return ClusterStatus(None, 0, 0)
    answer = _master_json(state.web_ui) or {}
    workers = [w for w in answer.get("workers", []) if w.get("state") == "ALIVE"]
    return ClusterStatus(state, len(workers), sum(int(w.get("cores", 0)) for w in workers))


def _spawn(data_dir: Path, name: str, arguments: list[str], env: dict[str, str]) -> int:
    with open(data_dir / f"{name}.log", "ab") as out:
        process = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *arguments],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # survives the command that started it
        )
    return process.pid


def _environment(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_DAEMON_MEMORY=DAEMON_MEMORY,
        SPARK_LOCAL_IP=HOST,
        # shuffle, spill and broadcast files: in the data folder, not in /tmp
        SPARK_LOCAL_DIRS=str(data_dir / "local"),
        SPARK_WORKER_OPTS=WORKER_OPTS,
        SPARK_NO_DAEMONIZE="1",
    )
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return env


def start(
    data_dir: Path,
    port: int = 7077,
    workers: int = 2,
    worker_cores: int = 1,
    worker_memory: str = "1g",
    timeout_s: float = 90.0,
) -> ClusterState:
    """Start the master and the workers; return once every worker has registered."""
    data_dir = data_dir.resolve()
    current = status(data_dir)
    if current.state is not None:
        if current.running:
            return current.state
        raise ClusterError(
            f"a cluster from {data_dir} runs but only {current.alive_workers} of its workers "
            f"answer: run `kafka-dedup cluster stop --data-dir {data_dir}` first"
        )
    if not port_free(port):
        raise ClusterError(f"port {port} on {HOST} is in use: stop what holds it or pass --port")
    (data_dir / "local").mkdir(parents=True, exist_ok=True)
    env = _environment(data_dir)
    ui_port = free_port()
    master_url, web_ui = f"spark://{HOST}:{port}", f"http://{HOST}:{ui_port}"
    master_pid = _spawn(
        data_dir, "master",
        [MASTER_CLASS, "--host", HOST, "--port", str(port), "--webui-port", str(ui_port)], env,
    )  # fmt: skip
    pids = []
    for number in range(1, workers + 1):
        work = data_dir / f"worker-{number}"
        work.mkdir(exist_ok=True)
        arguments = [
            WORKER_CLASS, "--host", HOST, "--cores", str(worker_cores),
            "--memory", worker_memory, "--work-dir", str(work),
            "--webui-port", str(free_port()), master_url,
        ]  # fmt: skip
        pids.append(_spawn(data_dir, f"worker-{number}", arguments, env))
    state = ClusterState(master_url, web_ui, master_pid, tuple(pids), str(data_dir))
    (data_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=1) + "\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if status(data_dir).running:
            return state
        dead = [pid for pid in (master_pid, *pids) if not pid_alive(pid)]
        if dead:
            break
        time.sleep(0.5)
    stop(data_dir)
    raise ClusterError(
        f"the cluster did not come up within {timeout_s:.0f} s; see {data_dir}/master.log "
        "and worker-*.log"
    )


def stop(data_dir: Path, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop workers, then the master (SIGTERM, SIGKILL after timeout_s); False if none ran."""
    data_dir = data_dir.resolve()
    state = read_state(data_dir)
    if state is None:
        return False
    for pid in (*state.worker_pids, state.master_pid):
        _terminate(pid, timeout_s)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return True


def _terminate(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # spark-class's shell and its JVM
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        _reap(pid)
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when this process started the daemon (tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
