"""The lease's heartbeat: a run stops when its lease is lost or can no longer be renewed."""

from __future__ import annotations

import threading
import time

from kafka_dedup import config as config_mod
from kafka_dedup.ingest import lock

CONFIG = config_mod.load(environ={}, flags={"ingest": {"lock_lease": "3 seconds"}})


class Store:
    """A lease store whose renewals fail the way it is told (raise, or refuse)."""

    where = "test"

    def __init__(self, renew_result: bool | None) -> None:
        self.renew_result = renew_result
        self.released = False

    def try_acquire(self, me: lock.Holder) -> lock.Holder | None:
        return None

    def renew(self, me: lock.Holder) -> bool:
        if self.renew_result is None:
            raise OSError("endpoint unreachable")
        return self.renew_result

    def release(self, me: lock.Holder) -> None:
        self.released = True


def lost_after(store: Store) -> float:
    """Seconds from taking the lease until on_lost was called (inf if not within 6 s)."""
    lost = threading.Event()
    started = time.monotonic()
    with lock.hold(CONFIG, "run", lost.set, store=store):
        lost.wait(6)
    assert store.released
    return time.monotonic() - started if lost.is_set() else float("inf")


def test_a_refused_renewal_stops_the_run_at_the_first_heartbeat() -> None:
    assert 0.9 < lost_after(Store(renew_result=False)) < 1.5


def test_failing_renewals_stop_the_run_before_the_lease_runs_out() -> None:
    assert 1.9 < lost_after(Store(renew_result=None)) < 3.0


def test_renewed_leases_are_never_lost() -> None:
    assert lost_after(Store(renew_result=True)) == float("inf")
