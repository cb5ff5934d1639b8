"""A local single-node Kafka 4.x broker (KRaft, combined broker+controller) for demo and tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_dedup import processes
from kafka_dedup.kafka import kraft
from kafka_dedup.kafka.kraft import HOST, LOG_FILE, BrokerError, free_port, port_free

__all__ = ["HOST", "LOG_FILE", "BrokerError", "BrokerStatus", "free_port", "port_free"]
__all__ += ["kill", "metadata_ok", "start", "status", "stop"]
PID_FILE = "broker.pid"
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path


def _read_pid(data_dir: Path) -> int | None:
    return processes.read_pid_file(data_dir / PID_FILE)


def metadata_ok(bootstrap_servers: str, timeout_s: float = 2.0) -> bool:
    """True when a broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    # log_level 0: a refused connection while the broker boots is expected, not worth a line.
    admin = AdminClient(
        {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 2000, "log_level": 0}
    )
    try:
        admin.list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return False
    return True


def start(port: int, data_dir: Path, timeout_s: float = 60.0) -> BrokerStatus:
    """Start the broker in the background and return once it answers metadata requests."""
    data_dir = data_dir.resolve()
    bootstrap = f"{HOST}:{port}"
    running_pid = _read_pid(data_dir)
    if running_pid is not None:
        if metadata_ok(bootstrap):
            return BrokerStatus(True, running_pid, bootstrap, data_dir)
        raise BrokerError(
            f"a broker (pid {running_pid}) already uses {data_dir} but does not answer on "
            f"{bootstrap}: run `kafka-dedup broker stop --data-dir {data_dir}` first"
        )
    if not port_free(port):
        raise BrokerError(
            f"port {port} on {HOST} is already in use: stop what holds it or pass another --port"
        )
    java = kraft.java()
    classpath = kraft.classpath()
    properties = kraft.ensure_formatted(data_dir, port, java, classpath)
    log_path = data_dir / LOG_FILE
    with open(data_dir / "broker.out", "ab") as out:
        process = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={data_dir / kraft.LOG4J2_FILE}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(properties),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it
        )
    (data_dir / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (data_dir / PID_FILE).unlink(missing_ok=True)
            raise BrokerError(
                f"the broker exited with code {process.returncode} during start-up; see {log_path}"
                f" and {data_dir / 'broker.out'}"
            )
        if metadata_ok(bootstrap, timeout_s=1.0):
            return BrokerStatus(True, process.pid, bootstrap, data_dir)
        time.sleep(0.3)
    stop(data_dir)
    raise BrokerError(
        f"the broker did not answer on {bootstrap} within {timeout_s:.0f} s; see {log_path}"
    )


def stop(data_dir: Path, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker (SIGTERM, SIGKILL after timeout_s); False when none was running."""
    return processes.stop_pid_file(data_dir.resolve() / PID_FILE, timeout_s)


def kill(data_dir: Path) -> bool:
    """SIGKILL the broker, as a crash would (fault injection); False when none was running."""
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # when this process started it: reap, or the pid still looks alive
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return True


def status(port: int, data_dir: Path) -> BrokerStatus:
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    bootstrap = f"{HOST}:{port}"
    return BrokerStatus(pid is not None and metadata_ok(bootstrap), pid, bootstrap, data_dir)
