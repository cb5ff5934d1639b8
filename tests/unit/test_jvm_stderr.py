"""A process started inside jvm_stderr.filtered() writes to stderr without Java's incubator
warning; this process's stderr is its own again afterwards."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kafka_dedup import jvm_stderr

CHILD = (
    "import sys, time; time.sleep(0.3); "
    "sys.stderr.write('WARNING: Using incubator modules: jdk.incubator.vector\\nkept 1\\n'); "
    "sys.stderr.flush(); time.sleep(0.3); sys.stderr.write('kept 2\\n')"
)


def test_a_child_started_inside_keeps_every_line_but_the_incubator_warning(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with jvm_stderr.filtered():
        child = subprocess.Popen([sys.executable, "-c", CHILD])
    sys.stderr.write("parent after\n")
    sys.stderr.flush()
    assert child.wait(timeout=30) == 0
    time.sleep(0.5)  # the forwarding thread copies the child's last line
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["kept 1", "kept 2", "parent after"]
