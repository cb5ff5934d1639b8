"""What a benchmark ran on and at which commit: the header of every results file."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, load average, Python, Spark and Delta of this machine."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": memory_gib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "spark": metadata.version("pyspark"),
        "delta": metadata.version("delta-spark"),
    }


# What benches write: another bench's fresh results in the tree do not change the code run.
RESULTS = (":(exclude)bench/*/results*", ":(exclude)bench/*/runs/*", ":(exclude)README.md")


def commit() -> str:
    """The checked-out commit, marked when the code in the work tree differs from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", ".", *RESULTS], check=False
    ).returncode
    return head.stdout.strip() + ("+uncommitted" if dirty != 0 else "")
