"""The job runs' Python dependencies: kafka-dedup's installed closure, as runtime wheels.

EMR Serverless brings its own PySpark; everything else the library imports is installed here
with pip for the runtime's Python version and platform (binary wheels only), pinned to the
versions installed locally, so the bundle runs what the tests ran.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kafka_dedup.aws.clients import AwsError
from kafka_dedup.config import AwsConfig

ROOT_DISTRIBUTION = "kafka-dedup"
COMPLETE_MARKER = ".complete"
PIP_TIMEOUT_S = 900

MANYLINUX_OLDEST = 17  # manylinux2014 == manylinux_2_17


def marker_environment(aws: AwsConfig) -> dict[str, str]:
    """PEP 508 marker values of the runtime (Linux, CPython, the configured Python version)."""
    machine = "aarch64" if "aarch64" in aws.platform else "x86_64"
    return {
        "python_version": aws.python_version,
        "python_full_version": f"{aws.python_version}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def closure(aws: AwsConfig, root: str = ROOT_DISTRIBUTION) -> dict[str, str]:
    """{distribution: pin} of everything root needs at run time, minus the runtime's own."""
    env = marker_environment(aws)
    excluded = {canonicalize_name(name) for name in aws.runtime_provided}
    pins: dict[str, str] = {}
    pending = [root]
    while pending:
        for text in _requires(pending.pop()):
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            if requirement.marker and not requirement.marker.evaluate(env):
                continue
            if name in excluded or name in pins:
                continue
            try:
                pins[name] = f"{name}=={metadata.version(name)}"
                pending.append(name)
            except metadata.PackageNotFoundError:
                # needed by the runtime's Python only (e.g. a backport): let pip pick a version
                pins[name] = f"{name}{requirement.specifier}"
    return dict(sorted(pins.items()))


def _requires(distribution: str) -> list[str]:
    try:
        return metadata.distribution(distribution).requires or []
    except metadata.PackageNotFoundError:
        raise AwsError(
            f"{distribution} is not installed; run `make setup` (or pip install -e .) first"
        ) from None


def staged_dependencies(aws: AwsConfig, bundle_dir: Path) -> Path:
    """A folder with the closure installed for the runtime; reused while the pins are the same."""
    pins = list(closure(aws).values())
    spec = {"pins": pins, "python": aws.python_version, "platform": aws.platform}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    target = bundle_dir / f"deps-{digest}"
    if (target / COMPLETE_MARKER).is_file():
        return target
    staging = bundle_dir / f"deps-{digest}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _pip_install(pins, staging, aws)
    # console scripts carry this machine's interpreter path: useless on the runtime
    shutil.rmtree(staging / "bin", ignore_errors=True)
    (staging / COMPLETE_MARKER).write_text(json.dumps(spec, indent=1) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def compatible_platforms(platform: str) -> list[str]:
    """The platform and every older manylinux tag its glibc runs.

    pip takes --platform literally: manylinux_2_28 alone refuses a wheel tagged only
    manylinux_2_17 (manylinux2014), which the runtime would load fine."""
    match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if match is None:
        return [platform]
    newest, arch = int(match.group(1)), match.group(2)
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, MANYLINUX_OLDEST - 1, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def _pip_install(pins: list[str], target: Path, aws: AwsConfig) -> None:
    platforms = [arg for tag in compatible_platforms(aws.platform) for arg in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", aws.python_version, *platforms,
        "--target", str(target), *pins,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise AwsError(
            f"pip did not finish installing the bundle's wheels in {PIP_TIMEOUT_S}s"
        ) from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AwsError(
            f"pip could not get wheels for Python {aws.python_version} on {aws.platform}: "
            f"{last} (check aws.python_version / aws.platform and the package index)"
        )
