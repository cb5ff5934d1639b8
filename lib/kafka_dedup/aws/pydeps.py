"""The job runs' Python dependencies: kafka-dedup's core requirements, resolved by pip for EMR.

The jobs need only the package's core dependencies (the optional extras, `[forensics]`,
`[downstream]`, `[aws]`, `[dev]`, are local tooling). pip resolves them, extras and markers
included, for the runtime's Python version and platform (binary wheels only), constrained to
the versions installed here, so the bundle runs what the tests ran. EMR Serverless brings its
own PySpark: a requirement that depends on it (delta-spark) is installed without its
dependencies, and its other requirements join the resolution.
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
        "extra": "",  # the core dependencies only: every optional extra is local tooling
    }


def job_requirements(aws: AwsConfig, root: str = ROOT_DISTRIBUTION) -> tuple[list[str], list[str]]:
    """(requirements for pip to resolve, pins to install without dependencies).

    The root's core requirements for the runtime, minus what the runtime provides. A
    requirement that itself needs a runtime package goes in the second list, pinned, and
    its other requirements join the first."""
    env = marker_environment(aws)
    provided = {canonicalize_name(name) for name in aws.runtime_provided}
    resolve: list[str] = []
    without_deps: list[str] = []
    for requirement in _requires(root, env):
        name = canonicalize_name(requirement.name)
        if name in provided:
            continue
        inner = _requires(requirement.name, env) if _installed(name) else []
        if any(canonicalize_name(r.name) in provided for r in inner):
            without_deps.append(f"{name}=={metadata.version(name)}")
            resolve.extend(_as_text(r) for r in inner if canonicalize_name(r.name) not in provided)
        else:
            resolve.append(_as_text(requirement))
    return sorted(set(resolve)), sorted(without_deps)


def _as_text(requirement: Requirement) -> str:
    """The requirement without its marker, evaluated already for the runtime (pip would
    evaluate it against the Python running pip)."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _requires(distribution: str, env: dict[str, str]) -> list[Requirement]:
    """The distribution's requirements that apply on the runtime, extras left out."""
    try:
        texts = metadata.distribution(distribution).requires or []
    except metadata.PackageNotFoundError:
        raise AwsError(
            f"{distribution} is not installed; run `make setup` (or pip install -e .) first"
        ) from None
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(env)]


def constraints() -> list[str]:
    """name==version of every distribution installed here but the project itself."""
    pins = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    pins.pop(canonicalize_name(ROOT_DISTRIBUTION), None)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def staged_dependencies(aws: AwsConfig, bundle_dir: Path) -> Path:
    """A folder with the resolved dependencies installed; reused while the inputs are the same."""
    resolve, without_deps = job_requirements(aws)
    pins = constraints()
    spec = {
        "resolve": resolve,
        "without_deps": without_deps,
        "constraints": pins,
        "python": aws.python_version,
        "platform": aws.platform,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    target = bundle_dir / f"deps-{digest}"
    if (target / COMPLETE_MARKER).is_file():
        return target
    staging = bundle_dir / f"deps-{digest}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    constraints_file = bundle_dir / f"constraints-{digest}.txt"
    constraints_file.write_text("\n".join(pins) + "\n")
    pip_install(resolve, staging, aws, ["--constraint", str(constraints_file)])
    if without_deps:
        pip_install(without_deps, staging, aws, ["--no-deps"])
    # console scripts carry this machine's interpreter path: useless on the runtime
    shutil.rmtree(staging / "bin", ignore_errors=True)
    spec["installed"] = installed_in(staging)
    (staging / COMPLETE_MARKER).write_text(json.dumps(spec, indent=1) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def installed_in(folder: Path) -> list[str]:
    """name==version of each distribution pip installed into folder (its .dist-info)."""
    found = [
        (canonicalize_name(dist.metadata["Name"]), dist.version)
        for dist in metadata.distributions(path=[str(folder)])
    ]
    return [f"{name}=={version}" for name, version in sorted(found)]


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


def pip_install(
    requirements: list[str], target: Path, aws: AwsConfig, options: list[str] | None = None
) -> None:
    """pip's resolver, for the runtime's Python and platform, binary wheels only, into target.

    pip evaluates dependency markers against the Python running it; `make setup` uses the
    runtime's minor version (3.11), so they agree."""
    platforms = [arg for tag in compatible_platforms(aws.platform) for arg in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", aws.python_version, *platforms, *(options or []),
        "--target", str(target), *requirements,
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
