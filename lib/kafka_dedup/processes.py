"""Local processes: liveness, and the pid files of the servers this project starts (broker,
schema registry), shared by the ingest lease and the standalone cluster too."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (also one owned by another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid_file(pid_file: Path) -> int | None:
    """The pid a server's pid file names, while that process lives; else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def reap(pid: int, block: bool = False) -> None:
    """Collect a child's exit status (when this process started it, as tests do)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0 if block else os.WNOHANG)


def stop_pid_file(pid_file: Path, timeout_s: float) -> bool:
    """SIGTERM the process a pid file names, SIGKILL after timeout_s, remove the file;
    False when none was running."""
    pid = read_pid_file(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and read_pid_file(pid_file) is not None:
        reap(pid)
        time.sleep(0.2)
    if read_pid_file(pid_file) is not None:
        os.kill(pid, signal.SIGKILL)
        reap(pid, block=True)
    pid_file.unlink(missing_ok=True)
    return True
