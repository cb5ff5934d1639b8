"""The ingest lease on a local or mounted checkpoint folder: a lock file with the holder in it.

The kernel's flock is the mutual exclusion and goes away with its process, so a run killed
with SIGKILL never blocks the next one; the file's content (holder, lease expiry, renewed by
the heartbeat) is what the refused run reports.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from kafka_dedup.ingest.lock import Holder

LOCK_FILE = "_ingest.lock"


class FileLeaseStore:
    """A flock'ed lock file in the checkpoint folder; the open descriptor is the lease."""

    def __init__(self, checkpoints: str) -> None:
        self.path = Path(checkpoints).absolute() / LOCK_FILE
        self.where = str(self.path.parent)
        self._fd: int | None = None

    def try_acquire(self, me: Holder) -> Holder | None:
        # The first run on these checkpoints: creating the folder is its own first write.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            now = time.time()
            # An empty file: the holder has locked it but not yet written its name.
            return Holder.from_json(text) or Holder("unknown", "unknown", 0, now, now)
        self._fd = fd
        self._write(me)
        return None

    def _write(self, me: Holder) -> None:
        assert self._fd is not None
        data = me.to_json().encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def renew(self, me: Holder) -> bool:
        if self._fd is None:
            return False
        self._write(me)
        return True

    def release(self, me: Holder) -> None:
        if self._fd is None:
            return
        # Emptied, not deleted: a waiting run may already hold the file open, and unlinking
        # would let it lock an inode nobody else can see.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
