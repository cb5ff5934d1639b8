"""The stderr of the Spark JVM this process starts, without the lines no user can act on.

Spark's launcher adds `--add-modules=jdk.incubator.vector` to every JVM it starts, and Java
then prints "WARNING: Using incubator modules: jdk.incubator.vector" at start, with no option
to turn it off. A process started inside `filtered()` inherits a stderr that is a pipe; a
thread copies what comes through it to the real stderr, line by line, leaving those out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DROPPED = (b"WARNING: Using incubator modules: ",)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _forward(read_fd: int, write_fd: int) -> None:
    """Copy lines until the last writer closes the pipe; never leave the writer blocked."""
    with os.fdopen(read_fd, "rb") as source:
        broken = False
        for line in iter(source.readline, b""):
            if broken or line.startswith(DROPPED):
                continue
            try:
                _write_all(write_fd, line)
            except OSError:  # the real stderr is gone: keep draining the pipe
                broken = True
    os.close(write_fd)


@contextmanager
def filtered() -> Iterator[None]:
    """Processes started inside inherit a stderr without the DROPPED lines; this process's
    own stderr is restored on exit."""
    read_fd, write_fd = os.pipe()
    target, saved = os.dup(2), os.dup(2)
    threading.Thread(
        target=_forward, args=(read_fd, target), daemon=True, name="jvm-stderr"
    ).start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
