"""The job bundle: entry points, library + dependencies, config and jars, content-addressed.

Every file is named after the SHA-256 of its bytes and archives are written byte-for-byte
reproducibly (sorted entries, zero timestamps and owners), so building twice gives the same
names and an upload skips whatever the bucket already holds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

import kafka_dedup
from kafka_dedup import log, paths
from kafka_dedup.aws.clients import AwsError, aws_errors, split_s3_uri
from kafka_dedup.config import AwsConfig

JOBS = ("ingest", "reconcile", "maintain")
NIGHTLY = "nightly_reconcile"
JOBS_PACKAGE_DIR = "kafka_dedup_jobs"  # jobs/ travels in the Python archive for the nightly entry
# What the runtime lacks on its class path: Spark's Kafka source and its dependencies, and
# spark-avro (Delta and S3A are built in).
RUNTIME_MISSING_JARS = (
    "spark-sql-kafka-0-10_*.jar",
    "spark-token-provider-kafka-0-10_*.jar",
    "kafka-clients-*.jar",
    "commons-pool2-*.jar",
    "spark-avro_*.jar",  # an external module: not on spark-submit's class path by default
)
NIGHTLY_SOURCE = '''"""Nightly reconcile: --scheduled-time T -> --date (T - 1 day)."""

import sys

from kafka_dedup.aws.nightly import main

sys.exit(main())
'''
HASH_CHARS = 16
logger = log.get(__name__)


@dataclass(frozen=True)
class Artifact:
    role: str  # python | config | entry:<job> | jar
    path: str  # the local file
    key: str  # relative to the artifacts URI
    sha256: str
    size: int


@dataclass(frozen=True)
class Bundle:
    artifacts: tuple[Artifact, ...]

    def keys(self, role: str) -> list[str]:
        return [a.key for a in self.artifacts if a.role == role]

    def key(self, role: str) -> str:
        (key,) = self.keys(role)
        return key


def build(aws: AwsConfig, config_text: str, deps_dir: Path, jobs_dir: Path | None = None) -> Bundle:
    """Write the bundle's files under aws.bundle_dir/dist and return its manifest."""
    jobs_dir = jobs_dir or paths.project_root() / "jobs"
    dist = Path(aws.bundle_dir) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    artifacts = [
        _archive(dist, "python", "pyenv", _python_members(deps_dir, jobs_dir)),
        _archive(dist, "config", "conf", [("kafka-dedup.toml", config_text.encode("utf-8"))]),
    ]
    for job in JOBS:
        source = jobs_dir / f"{job}.py"
        if not source.is_file():
            raise AwsError(f"{source} not found: the bundle needs the {job} entry point")
        artifacts.append(_file(dist, f"entry:{job}", "jobs", f"{job}.py", source.read_bytes()))
    artifacts.append(
        _file(dist, f"entry:{NIGHTLY}", "jobs", f"{NIGHTLY}.py", NIGHTLY_SOURCE.encode())
    )
    for jar in runtime_jars(aws):
        artifacts.append(_file(dist, "jar", "jars", jar.name, jar.read_bytes()))
    bundle = Bundle(tuple(artifacts))
    manifest = Path(aws.bundle_dir) / "bundle.json"
    manifest.write_text(json.dumps([asdict(a) for a in bundle.artifacts], indent=1) + "\n")
    return bundle


def runtime_jars(aws: AwsConfig) -> list[Path]:
    """The Maven-resolved jars the runtime lacks, plus [aws] jars (e.g. aws-msk-iam-auth)."""
    folder = paths.spark_jars_dir()
    jars: list[Path] = []
    for pattern in RUNTIME_MISSING_JARS:
        found = sorted(folder.glob(pattern))
        if not found:
            raise AwsError(f"no {pattern} in {folder}; run `make jars` first")
        jars.extend(found)
    for extra in aws.jars:
        path = Path(extra)
        if not path.is_file():
            raise AwsError(f"aws.jars: {extra} not found")
        jars.append(path)
    return jars


def _python_members(deps_dir: Path, jobs_dir: Path) -> Iterable[tuple[str, bytes]]:
    """(name in archive, bytes): the dependencies, the library's source, and jobs/*.py."""
    library = Path(kafka_dedup.__file__).resolve().parent
    sources = [(deps_dir, ""), (library, "kafka_dedup/"), (jobs_dir, f"{JOBS_PACKAGE_DIR}/")]
    for root, prefix in sources:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and _wanted(relative):
                yield prefix + relative, path.read_bytes()


def _wanted(relative: str) -> bool:
    return "__pycache__" not in relative and not relative.endswith((".pyc", ".complete"))


def _archive(dist: Path, role: str, stem: str, members: Iterable[tuple[str, bytes]]) -> Artifact:
    """A reproducible .tar.gz: sorted members, no timestamps, owners or gzip file name."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return _write(
        dist,
        Artifact(role, "", f"{role}/{stem}-{digest[:HASH_CHARS]}.tar.gz", digest, len(data)),
        data,
    )


def _file(dist: Path, role: str, folder: str, name: str, data: bytes) -> Artifact:
    """A file kept under its own name, in a folder named after its hash."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{folder}/{digest[:HASH_CHARS]}/{name}"
    return _write(dist, Artifact(role, "", key, digest, len(data)), data)


def _write(dist: Path, artifact: Artifact, data: bytes) -> Artifact:
    path = dist / artifact.key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Artifact(artifact.role, str(path), artifact.key, artifact.sha256, artifact.size)


def uri(artifacts_uri: str, key: str) -> str:
    return f"{artifacts_uri.rstrip('/')}/{key}"


def upload(s3: Any, bundle: Bundle, artifacts_uri: str) -> tuple[int, int]:
    """Upload what the bucket lacks; return (uploaded, skipped). Names are content hashes."""
    bucket, _ = split_s3_uri(artifacts_uri, "aws.artifacts_uri")
    uploaded = skipped = 0
    for artifact in bundle.artifacts:
        _, key = split_s3_uri(uri(artifacts_uri, artifact.key))
        if _exists(s3, bucket, key, artifact.size):
            skipped += 1
            continue
        with aws_errors(f"uploading s3://{bucket}/{key}"):
            s3.upload_file(
                artifact.path, bucket, key, ExtraArgs={"Metadata": {"sha256": artifact.sha256}}
            )
        logger.info(f"uploaded s3://{bucket}/{key} ({artifact.size:,} bytes)")
        uploaded += 1
    return uploaded, skipped


def _exists(s3: Any, bucket: str, key: str, size: int) -> bool:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        with aws_errors(f"checking s3://{bucket}/{key}"):
            raise
    # a same-named object of another size is a broken earlier upload: replace it
    return int(head.get("ContentLength", -1)) == size
