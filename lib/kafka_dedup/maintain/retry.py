"""Delta commit conflicts, retried with a bound and a growing pause, then one line to act on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka_dedup import conflicts as delta_conflicts
from kafka_dedup import log
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
logger = log.get(__name__)


class ConflictError(UserError):
    """A table kept changing under maintenance until the retries ran out."""

    exit_code = EXIT_CONFLICT


def conflict_name(exc: BaseException) -> str | None:
    """The Delta conflict's class name (as Delta's documentation calls it), None for others."""
    return delta_conflicts.conflict_name(exc) if delta_conflicts.is_conflict(exc) else None


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
    doubles from backoff_s); each conflict's class name is appended to `conflicts`."""
    attempt = 0
    while True:
        try:
            return action(attempt)
        except Exception as exc:
            name = conflict_name(exc)
            if name is None:
                raise
            conflicts.append(name)
            if attempt >= max_retries:
                raise ConflictError(
                    f"{step} of table {table} lost {attempt + 1} time(s) to concurrent commits "
                    f"(last: {name}); run maintain when fewer writers commit to {table} (not "
                    "beside a reconcile run) or raise maintain.max_retries"
                ) from None
            pause = backoff_s * 2**attempt
            attempt += 1
            logger.warning(
                f"{step} of {table}: {name}, retry {attempt}/{max_retries} in {pause:g} s",
                extra={"maintain_table": table, "conflict": name},
            )
            sleep(pause)
