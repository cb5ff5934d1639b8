"""Delta commit conflicts, retried with a bound and a growing pause, then one line to act on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka_dedup import conflicts as delta_conflicts
from kafka_dedup.errors import UserError

EXIT_CONFLICT = 5  # distinct from errors (1, 2), findings (3) and a held lease (4)
# Delta's OPTIMIZE commits with dataChange=false (snapshot isolation) and itself re-attempts
# its commit while every file it compacted is still in the table (after appends, an ALTER
# TABLE). What reaches us: a concurrent commit removed a compacted file (a MERGE, DELETE or
# another OPTIMIZE: ConcurrentDeleteReadException, ConcurrentDeleteDeleteException), or a
# metadata or protocol change it could not absorb; the retention-property commit can also
# meet ConcurrentAppendException and ConcurrentTransactionException. kafka_dedup.conflicts
# tells them all by name (delta-spark 4.0.0's Python package has no exception classes).
T = TypeVar("T")


class ConflictError(UserError):
    """A table kept changing under maintenance until the retries ran out."""

    exit_code = EXIT_CONFLICT


def with_retries(
    action: Callable[[int], T],
    table: str,
    step: str,
    max_retries: int,
    backoff_s: float,
    conflicts: list[str],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """action(attempt), run again after each Delta conflict up to max_retries times (the pause
    doubles from backoff_s, no jitter); each conflict's class name is appended to `conflicts`.
    The loop is kafka_dedup.conflicts.retrying's; only the final error is maintain's own."""
    attempts = iter(range(max_retries + 1))

    def give_up(count: int, name: str) -> ConflictError:
        return ConflictError(
            f"{step} of table {table} lost {count} time(s) to concurrent commits (last: "
            f"{name}); run maintain when fewer writers commit to {table} (not beside a "
            "reconcile run) or raise maintain.max_retries"
        )

    return delta_conflicts.retrying(
        lambda: action(next(attempts)),
        f"{step} of {table}",
        attempts=max_retries + 1,
        first_backoff_s=backoff_s,
        sleep=sleep,
        jitter=False,
        on_conflict=conflicts.append,
        give_up=give_up,
    )
