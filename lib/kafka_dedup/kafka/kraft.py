"""The local broker's ground: loopback ports, the JVM to run, KRaft config files and storage."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from kafka_dedup import paths
from kafka_dedup.errors import UserError

HOST = "127.0.0.1"
NODE_ID = 1
LOG_FILE = "broker.log"
PROPERTIES_FILE = "server.properties"
LOG4J2_FILE = "log4j2.properties"


class BrokerError(UserError):
    """The broker cannot be started or reached; the message names the problem and the fix."""


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


def java() -> str:
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


def classpath() -> str:
    jars = paths.broker_jars_dir()
    if not jars.is_dir() or not any(jars.glob("kafka_2.13-*.jar")):
        raise BrokerError(
            f"Kafka broker jars not found in {jars}: run `make setup` (or `make jars`)"
        )
    return str(jars / "*")


def ensure_formatted(data_dir: Path, port: int, java: str, classpath: str) -> Path:
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
    (data_dir / LOG4J2_FILE).write_text(LOG4J2_PROPERTIES.format(log_file=data_dir / LOG_FILE))
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
