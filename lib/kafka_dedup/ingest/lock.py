"""One ingest run per checkpoint location: a lease with an expiry, renewed by a heartbeat.

The lease lives next to the checkpoints: a lock file on a local or mounted folder
(`lock_file`), an item in the stack's DynamoDB table for `s3://`/`s3a://` checkpoints
(`lock_dynamodb`), because plain S3 has neither an atomic rename nor put-if-absent.
A run that finds the lease held waits up to `ingest.lock_wait`, then exits with
EXIT_LOCKED and one line naming the holder, before it has written anything.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Protocol

from kafka_dedup.config import Config, duration_seconds
from kafka_dedup.errors import UserError
from kafka_dedup.processes import pid_alive

EXIT_LOCKED = 4  # another run holds the checkpoints: distinct from errors (1, 2) and findings (3)
RETRY_S = 1.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) the lease, and until when (epoch seconds)."""

    run_id: str
    host: str
    pid: int
    since: float
    expires: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder written by to_json; None for an empty or torn file."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None

    def is_live(self, now: float) -> bool:
        """False once the lease expired, or when its process is known dead on this host."""
        if self.expires <= now:
            return False
        return self.host != socket.gethostname() or pid_alive(self.pid)

    def describe(self) -> str:
        return (
            f"run {self.run_id} (pid {self.pid} on {self.host}) since {_iso(self.since)}, "
            f"lease until {_iso(self.expires)}"
        )


class LeaseStore(Protocol):
    """A backend: take the lease when it is free, expired or dead; renew and release it."""

    where: str

    def try_acquire(self, me: Holder) -> Holder | None:
        """None when `me` now holds the lease, else the live holder that keeps it."""

    def renew(self, me: Holder) -> bool:
        """Extend the lease; False when it was lost to another run."""

    def release(self, me: Holder) -> None:
        """Give the lease up (only if `me` still holds it)."""


class LockHeldError(UserError):
    """Another run holds the checkpoints; nothing was written."""

    exit_code = EXIT_LOCKED


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_for(config: Config) -> LeaseStore:
    """The backend for the checkpoint location: DynamoDB on S3, a lock file elsewhere."""
    checkpoints = config.storage.checkpoints
    if checkpoints.startswith(("s3://", "s3a://")):
        from kafka_dedup.ingest.lock_dynamodb import DynamoDbLeaseStore

        return DynamoDbLeaseStore.from_config(config)
    from kafka_dedup.ingest.lock_file import FileLeaseStore

    return FileLeaseStore(checkpoints)


def _heartbeat(
    store: LeaseStore,
    me: Holder,
    lease_s: float,
    done: threading.Event,
    on_lost: Callable[[], None],
) -> None:
    """Renew the lease every third of its length; call on_lost once it is lost, or once
    renewals kept failing until the lease is about to run out (another run may take it)."""
    valid_until = me.expires
    while not done.wait(lease_s / 3):
        expires = time.time() + lease_s
        try:
            renewed = store.renew(replace(me, expires=expires))
        except Exception as exc:  # noqa: BLE001 - retried while the lease still stands
            log.warning("ingest lock %s: renewing the lease failed: %s", store.where, exc)
            renewed = time.time() + lease_s / 3 < valid_until
        else:
            valid_until = expires if renewed else valid_until
        if not renewed:
            log.error("ingest lock %s: lease lost or expiring; stopping", store.where)
            on_lost()
            return


@contextmanager
def hold(
    config: Config,
    run_id: str,
    on_lost: Callable[[], None],
    store: LeaseStore | None = None,
) -> Iterator[Holder]:
    """Hold the checkpoints' lease for the block, or raise LockHeldError after ingest.lock_wait."""
    store = store or store_for(config)
    lease_s = duration_seconds(config.ingest.lock_lease)  # config checked it is >= 1 s
    deadline = time.monotonic() + duration_seconds(config.ingest.lock_wait)
    now = time.time()
    me = Holder(run_id, socket.gethostname(), os.getpid(), now, now + lease_s)
    while True:
        # the heartbeat starts from the expiry of the attempt that took the lease
        me = replace(me, expires=time.time() + lease_s)
        holder = store.try_acquire(me)
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise LockHeldError(
                f"checkpoints {store.where} are held by {holder.describe()}; this run wrote "
                f"nothing (exit {EXIT_LOCKED}): run again later or set ingest.lock_wait"
            )
        time.sleep(RETRY_S)
    done = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(store, me, lease_s, done, on_lost), daemon=True
    )
    beat.start()
    try:
        yield me
    finally:
        done.set()
        beat.join()
        store.release(me)
