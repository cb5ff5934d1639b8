"""A local single-node Kafka 4.x broker (KRaft, combined broker+controller) for demo and tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka_dedup import paths
from kafka_dedup.errors import UserError

HOST = "127.0.0.1"
NODE_ID = 1
PID_FILE = "broker.pid"
LOG_FILE = "broker.log"
PROPERTIES_FILE = "server.properties"
STOP_TIMEOUT_S = 30

# Single-node settings: internal topics need replication factor 1, and a consumer group
# should start without the default 3 s rebalance delay.
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={node_id}@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class BrokerError(UserError):
    """The broker cannot be started or reached; the message names the problem and the fix."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    data_dir: Path


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    if candidate and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            "java not found: install a Java 17 runtime (e.g. apt-get install "
            "openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return found


def _classpath() -> str:
    jars = paths.broker_jars_dir()
    if not jars.is_dir() or not any(jars.glob("kafka_2.13-*.jar")):
        raise BrokerError(
            f"Kafka broker jars not found in {jars}: run `make setup` (or `make jars`)"
        )
    return str(jars / "*")


def _read_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


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


def _ensure_formatted(data_dir: Path, port: int, java: str, classpath: str) -> Path:
    """Write server.properties and format KRaft storage the first time a data dir is used."""
    properties = data_dir / PROPERTIES_FILE
    log_dir = data_dir / "kraft-logs"
    if (log_dir / "meta.properties").is_file() and properties.is_file():
        text = properties.read_text()
        if f"PLAINTEXT://{HOST}:{port}," in text:
            return properties
        # Same storage, another client port: keep the controller port, swap the listener.
        old_port = text.split("PLAINTEXT://" + HOST + ":", 1)[1].split(",", 1)[0]
        properties.write_text(text.replace(f"{HOST}:{old_port}", f"{HOST}:{port}"))
        return properties
    data_dir.mkdir(parents=True, exist_ok=True)
    controller_port = free_port()
    properties.write_text(
        SERVER_PROPERTIES.format(
            node_id=NODE_ID,
            host=HOST,
            port=port,
            controller_port=controller_port,
            log_dir=log_dir,
        )
    )
    (data_dir / "log4j2.properties").write_text(
        LOG4J2_PROPERTIES.format(log_file=data_dir / LOG_FILE)
    )
    cluster_id = uuid.uuid4().hex[:22]
    result = subprocess.run(
        [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(properties),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise BrokerError(f"formatting Kafka storage in {log_dir} failed: {' '.join(last)}")
    return properties


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
    java = _java()
    classpath = _classpath()
    properties = _ensure_formatted(data_dir, port, java, classpath)
    log_path = data_dir / LOG_FILE
    with open(data_dir / "broker.out", "ab") as out:
        process = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
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
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    if pid is None:
        (data_dir / PID_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _read_pid(data_dir) is not None:
        _reap(pid)
        time.sleep(0.2)
    if _read_pid(data_dir) is not None:
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return True


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


def _reap(pid: int) -> None:
    """Collect the exit status when this process is the broker's parent (tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status(port: int, data_dir: Path) -> BrokerStatus:
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    bootstrap = f"{HOST}:{port}"
    return BrokerStatus(pid is not None and metadata_ok(bootstrap), pid, bootstrap, data_dir)
