"""Run an EMR Serverless StartJobRun request on a Spark standalone cluster, as EMR would.

The request is the one `kafka-dedup aws submit` sends (jobrun.start_request): its entry point
and archives are fetched from S3 into the driver's working folder (archives unpacked under
their `#alias`, as EMR localizes them), its `spark.emr-serverless.driverEnv.*` become the
driver's environment, and spark-submit runs the entry point with the request's own
--conf pairs and arguments against the cluster's master. Executors fetch the same archives
and jars from S3 themselves.

What stands in for the EMR image on this machine (`Runtime`): a Python with nothing but
PySpark (and py4j), Delta's jars in a folder that plays /usr/share/aws/delta/lib, and the
image's Spark defaults: hadoop-aws and the AWS SDK on the class path, `s3://` served by S3A
(EMRFS on EMR), and the S3 endpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from kafka_dedup import paths
from kafka_dedup.aws.clients import split_s3_uri
from kafka_dedup.aws.jobrun import RUNTIME_DELTA_JARS

DRIVER_ENV = "spark.emr-serverless.driverEnv."
# the jars EMR's image keeps on every class path; Delta's are named as on the image
CLASSPATH_JARS = ("hadoop-aws-*.jar", "bundle-*.jar")
DELTA_JARS = {
    "delta-spark.jar": "delta-spark_2.13-*.jar",
    "delta-storage.jar": "delta-storage-*.jar",
}
RUNTIME_PACKAGES = ("pyspark", "py4j")


@dataclass(frozen=True)
class Runtime:
    """The EMR image's parts, laid out under root."""

    root: Path
    python: str
    delta_dir: Path
    defaults_file: Path


@dataclass(frozen=True)
class JobResult:
    exit_code: int
    seconds: float
    stdout: str
    stderr: str


def prepare_runtime(root: Path, s3_endpoint: str, region: str) -> Runtime:
    """A bare Python with PySpark, Delta's jars and the image's Spark defaults under root."""
    root = root.resolve()
    venv = root / "python"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = Path(pyspark.__file__).resolve().parents[1]
    for package in RUNTIME_PACKAGES:
        link = site / package
        if not link.exists():
            link.symlink_to(installed / package)
    jars = paths.spark_jars_dir().resolve()
    delta_dir = root / "delta-lib"
    delta_dir.mkdir(parents=True, exist_ok=True)
    for name, pattern in DELTA_JARS.items():
        (found,) = sorted(jars.glob(pattern))
        if not (delta_dir / name).exists():
            (delta_dir / name).symlink_to(found)
    assert set(DELTA_JARS) == set(RUNTIME_DELTA_JARS)
    classpath = ":".join(str(jar) for p in CLASSPATH_JARS for jar in sorted(jars.glob(p)))
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    defaults = {
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={tmp}",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3_endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3_endpoint.startswith("https")).lower(),
        # the local S3 emulator's HTTP server answers "100 Continue" in a way the SDK's async
        # client refuses (see tests/aws_fixtures.py); real S3 needs neither setting
        "spark.hadoop.fs.s3a.optimized.copy.from.local.enabled": "false",
        "spark.hadoop.fs.s3a.attempts.maximum": "2",
        "spark.hadoop.fs.s3a.retry.limit": "2",
        "spark.ui.enabled": "false",
    }
    defaults_file = root / "spark-defaults.conf"
    defaults_file.write_text("".join(f"{k} {v}\n" for k, v in defaults.items()))
    return Runtime(root, str(venv / "bin" / "python"), delta_dir, defaults_file)


def submit_conf(parameters: str) -> dict[str, str]:
    """The --conf pairs of a sparkSubmitParameters string (jobrun refuses spaces in them)."""
    words = parameters.split()
    if words[::2] != ["--conf"] * (len(words) // 2) or len(words) % 2:
        raise ValueError(f"expected only --conf KEY=VALUE pairs: {parameters!r}")
    return dict(word.split("=", 1) for word in words[1::2])


def localize(s3: Any, uri: str, into: Path) -> Path:
    """Download an s3:// object into a folder; the local file."""
    bucket, key = split_s3_uri(uri)
    local = into / Path(key).name
    s3.download_file(bucket, key, str(local))
    return local


def driver_folder(s3: Any, request: Mapping[str, Any], folder: Path) -> Path:
    """The driver's working folder as EMR prepares it: entry point, archives under aliases."""
    driver = request["jobDriver"]["sparkSubmit"]
    conf = submit_conf(driver["sparkSubmitParameters"])
    folder.mkdir(parents=True)
    for item in conf.get("spark.archives", "").split(","):
        uri, _, alias = item.partition("#")
        archive = localize(s3, uri, folder)
        with tarfile.open(archive) as tar:
            tar.extractall(folder / (alias or archive.name), filter="data")
    return localize(s3, driver["entryPoint"], folder)


def command(request: Mapping[str, Any], master: str, runtime: Runtime, entry: Path) -> list[str]:
    """spark-submit with the request's own --conf pairs and entry-point arguments."""
    driver = request["jobDriver"]["sparkSubmit"]
    conf = submit_conf(driver["sparkSubmitParameters"])
    spark_submit = Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"
    pairs = [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]
    return [
        str(spark_submit), "--master", master, "--deploy-mode", "client",
        "--properties-file", str(runtime.defaults_file), *pairs,
        str(entry), *driver["entryPointArguments"],
    ]  # fmt: skip


def driver_env(request: Mapping[str, Any], runtime: Runtime, extra: Mapping[str, str]) -> dict:
    """The runtime's environment plus the request's driverEnv settings."""
    conf = submit_conf(request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])
    env = {name: os.environ[name] for name in ("PATH", "HOME", "JAVA_HOME") if name in os.environ}
    env.update(
        PYSPARK_PYTHON=runtime.python,
        PYSPARK_DRIVER_PYTHON=runtime.python,
        SPARK_LOCAL_DIRS=str(runtime.root / "tmp"),
        **extra,
    )
    env.update({k[len(DRIVER_ENV) :]: v for k, v in conf.items() if k.startswith(DRIVER_ENV)})
    return env


def run(
    s3: Any,
    request: Mapping[str, Any],
    master: str,
    runtime: Runtime,
    folder: Path,
    env: Mapping[str, str],
    stop_when: Callable[[], bool] | None = None,
    timeout_s: float = 600.0,
) -> JobResult:
    """Run the job to its end (or SIGTERM its Python driver once stop_when() is true)."""
    entry = driver_folder(s3, request, folder)
    started = time.monotonic()
    with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
        process = subprocess.Popen(
            command(request, master, runtime, entry),
            cwd=folder,
            env=driver_env(request, runtime, env),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait(process, entry, started, timeout_s, stop_when)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return JobResult(
        process.returncode,
        time.monotonic() - started,
        (folder / "stdout").read_text(errors="replace"),
        (folder / "stderr").read_text(errors="replace"),
    )


def _wait(
    process: subprocess.Popen[bytes],
    entry: Path,
    started: float,
    timeout_s: float,
    stop_when: Callable[[], bool] | None,
) -> None:
    signalled = False
    while process.poll() is None:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{entry.name} did not end within {timeout_s:.0f} s")
        if stop_when is not None and not signalled and stop_when():
            # what a scheduler's stop does: SIGTERM to the job's Python driver
            for pid in python_drivers(process.pid, entry):
                os.kill(pid, signal.SIGTERM)
            signalled = True
        time.sleep(1.0)


def python_drivers(root_pid: int, entry: Path) -> list[int]:
    """Processes under root_pid whose command line runs entry (spark-submit's Python child)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        runs_entry = str(entry).encode() in cmdline or entry.name.encode() in cmdline
        if runs_entry and pid != root_pid:
            found.append(pid)
        pending.extend(children.get(pid, []))
    return found
