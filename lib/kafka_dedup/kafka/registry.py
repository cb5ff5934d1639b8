"""A local Confluent-compatible schema registry (Apicurio Registry, in-memory) for tests.

`make registry` builds it through Maven (infra/registry/pom.xml) into build/registry/quarkus-app/.
Its schemas live in an in-memory H2 database: a stop forgets every subject.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kafka_dedup import paths, processes
from kafka_dedup.errors import UserError
from kafka_dedup.kafka import kraft
from kafka_dedup.kafka.kraft import HOST, free_port, port_free

__all__ = ["HOST", "RegistryError", "RegistryStatus", "answers", "app_jar", "free_port"]
__all__ += ["start", "status", "stop", "url"]
PID_FILE = "registry.pid"
OUT_FILE = "registry.out"
# Apicurio Registry 2.1's Confluent-compatible API (Confluent's v6 REST API); Confluent's
# clients take this URL as their schema.registry.url.
CCOMPAT_PATH = "/apis/ccompat/v6"
STOP_TIMEOUT_S = 30
HEAP = "-Xmx256m"


class RegistryError(UserError):
    """The schema registry cannot be started or reached; the message names the problem and fix."""


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    pid: int | None
    url: str
    data_dir: Path


def app_jar() -> Path:
    """The Quarkus launcher `make registry` builds."""
    jar = paths.project_root() / "build" / "registry" / "quarkus-app" / "quarkus-run.jar"
    if not jar.is_file():
        raise RegistryError(f"schema registry not built ({jar} is missing): run `make registry`")
    return jar


def url(port: int) -> str:
    """The Confluent-compatible base URL for a registry on this loopback port."""
    return f"http://{HOST}:{port}{CCOMPAT_PATH}"


def answers(registry_url: str, timeout_s: float = 2.0) -> bool:
    """True when the registry lists its subjects (HTTP 200)."""
    try:
        with urllib.request.urlopen(f"{registry_url}/subjects", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _read_pid(data_dir: Path) -> int | None:
    return processes.read_pid_file(data_dir / PID_FILE)


def start(port: int, data_dir: Path, timeout_s: float = 90.0) -> RegistryStatus:
    """Start the registry in the background and return once its API answers."""
    data_dir = data_dir.resolve()
    registry_url = url(port)
    running_pid = _read_pid(data_dir)
    if running_pid is not None:
        if answers(registry_url):
            return RegistryStatus(True, running_pid, registry_url, data_dir)
        raise RegistryError(
            f"a schema registry (pid {running_pid}) already uses {data_dir} but does not answer"
            f" on {registry_url}: stop it first"
        )
    if not port_free(port):
        raise RegistryError(f"port {port} on {HOST} is already in use: pick another port")
    command = [
        kraft.java(),
        HEAP,
        f"-Dquarkus.http.host={HOST}",
        f"-Dquarkus.http.port={port}",
        "-jar",
        str(app_jar()),
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    out_path = data_dir / OUT_FILE
    with open(out_path, "ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,
            start_new_session=True,  # survives the command that started it
        )
    (data_dir / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (data_dir / PID_FILE).unlink(missing_ok=True)
            raise RegistryError(
                f"the schema registry exited with code {process.returncode} during start-up;"
                f" see {out_path}"
            )
        if answers(registry_url, timeout_s=1.0):
            return RegistryStatus(True, process.pid, registry_url, data_dir)
        time.sleep(0.3)
    stop(data_dir)
    raise RegistryError(
        f"the schema registry did not answer on {registry_url} within {timeout_s:.0f} s;"
        f" see {out_path}"
    )


def stop(data_dir: Path, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the registry (SIGTERM, SIGKILL after timeout_s); False when none was running."""
    return processes.stop_pid_file(data_dir.resolve() / PID_FILE, timeout_s)


def status(port: int, data_dir: Path) -> RegistryStatus:
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    registry_url = url(port)
    return RegistryStatus(pid is not None and answers(registry_url), pid, registry_url, data_dir)
