"""The bundle is complete and small: every module the jobs import imports from it alone.

The Python archive is unpacked into a clean folder; an isolated interpreter (-I -S: no site
packages, no PYTHONPATH, no user site) with only that folder and the runtime's PySpark on its
path imports every kafka_dedup module the job entry points reach, and what they import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
import tarfile
from importlib import metadata
from pathlib import Path

import pyspark
import pytest

import kafka_dedup
from kafka_dedup import config as config_mod
from kafka_dedup import paths
from kafka_dedup.aws import bundle as bundle_mod
from kafka_dedup.aws import pydeps, workflow
from kafka_dedup.aws.stack import Target
from kafka_dedup.config import AwsConfig
from tests.aws_fixtures import REGION

LIBRARY = Path(kafka_dedup.__file__).resolve().parent
# the local tooling's packages: none may travel in the bundle
LOCAL_ONLY = {"duckdb", "deltalake", "pyarrow", "psycopg", "psycopg-binary", "pytest", "moto"}
LOCAL_ONLY |= {"tomli-w", "pyspark", "py4j"}
MAX_PYTHON_ARCHIVE_BYTES = 40_000_000


def module_file(name: str) -> Path | None:
    """The source of a kafka_dedup module (package __init__ or module file)."""
    relative = Path(*name.split(".")[1:])
    for candidate in (LIBRARY / relative / "__init__.py", LIBRARY / f"{relative}.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(source: Path) -> set[str]:
    """Every kafka_dedup module an import statement of the file names, in functions too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kafka_dedup")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kafka_dedup"):
            found.add(node.module or "")
            # `from kafka_dedup.x import y`: y is a module when it has a file of its own
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if module_file(name) is not None}


def job_modules() -> list[str]:
    """kafka_dedup modules the jobs reach: jobs/*.py, the nightly entry, the job commands."""
    jobs = sorted((paths.project_root() / "jobs").glob("*.py"))
    pending = set().union(*(imported_names(job) for job in jobs))
    # the CLI imports the chosen command's module by name; the nightly entry is generated
    pending |= {f"kafka_dedup.commands.{job.stem}" for job in jobs} | {"kafka_dedup.aws.nightly"}
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        pending |= {".".join(parts[:i]) for i in range(1, len(parts))}  # parent packages
        source = module_file(name)
        if source is not None:
            pending |= imported_names(source)
    return sorted(name for name in seen if module_file(name) is not None)


@pytest.fixture(scope="module")
def unpacked(aws_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python archive of a freshly built bundle, unpacked into a clean folder."""
    config = config_mod.load(
        environ={},
        flags={
            "aws": {"bundle_dir": str(aws_bundle_dir), "region": REGION},
            "s3": {"region": REGION},
        },
    )
    where = Target("app", "role", "s3://art/x", "s3://logs/x", "s3a://lake/wh", "s3a://lake/ckpt")
    built = workflow.package(config, where, upload=False)
    (python,) = [a for a in built.artifacts if a.role == "python"]
    assert python.size < MAX_PYTHON_ARCHIVE_BYTES
    folder = tmp_path_factory.mktemp("bundle-python")
    with tarfile.open(python.path) as tar:
        tar.extractall(folder, filter="data")
    return folder


def test_every_module_the_jobs_import_imports_from_the_bundle_alone(
    unpacked: Path, tmp_path: Path
) -> None:
    modules = job_modules()
    # the closure is what the CLI dispatch says: both job commands, their jobs, the session
    assert {"kafka_dedup.commands.ingest", "kafka_dedup.ingest.job"} <= set(modules)
    assert {"kafka_dedup.commands.reconcile", "kafka_dedup.reconcile.job"} <= set(modules)
    assert {"kafka_dedup.session", "kafka_dedup.aws.nightly"} <= set(modules)
    runtime = tmp_path / "runtime"  # what EMR provides: PySpark and py4j, nothing else
    runtime.mkdir()
    site = Path(pyspark.__file__).resolve().parents[1]
    for package in ("pyspark", "py4j"):
        (runtime / package).symlink_to(site / package)
    probe = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(unpacked)!r}, {str(runtime)!r}]\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print({n: getattr(m, '__file__', None) for n, m in sys.modules.items() if '.' not in n})\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True, text=True, check=False, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: dict[str, str | None] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert {"kafka_dedup", "pydantic", "delta", "confluent_kafka", "boto3"} <= set(loaded)
    # every module came from the bundle, the runtime's PySpark, or Python's own library
    allowed = (str(unpacked), str(runtime), sysconfig.get_paths()["stdlib"])
    strays = {
        name: origin
        for name, origin in loaded.items()
        if origin and not origin.startswith(allowed) and name not in ("pyspark", "py4j")
    }
    assert strays == {}


def test_the_bundle_holds_the_core_dependencies_and_no_local_tooling(unpacked: Path) -> None:
    shipped = {
        dist.metadata["Name"].lower().replace("_", "-")
        for dist in metadata.distributions(path=[str(unpacked)])
    }
    assert {"confluent-kafka", "boto3", "botocore", "pydantic", "pydantic-core"} <= shipped
    assert "delta-spark" in shipped
    assert not shipped & LOCAL_ONLY


def test_pip_resolves_a_requirement_with_extras_for_the_runtime(tmp_path: Path) -> None:
    # the old hand-written walk evaluated markers with extra="" and lost psycopg[binary]'s
    # psycopg-binary; pip's resolver installs it, as a manylinux wheel for the runtime
    version = metadata.version("psycopg")
    pydeps.pip_install([f"psycopg[binary]=={version}"], tmp_path, AwsConfig())
    installed = pydeps.installed_in(tmp_path)
    assert f"psycopg=={version}" in installed
    assert any(pin.startswith("psycopg-binary==") for pin in installed)
    assert bundle_mod.JOBS == ("ingest", "reconcile", "maintain")
