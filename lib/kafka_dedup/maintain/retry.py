"""Delta commit conflicts, retried with a bound and a growing pause, then one line to act on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

# Importing delta.exceptions patches PySpark's error conversion, so the JVM's conflict
# exceptions arrive in Python as these classes.
from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)

from kafka_dedup import log
from kafka_dedup.errors import UserError

EXIT_CONFLICT = 5  # distinct from errors (1, 2), findings (3) and a held lease (4)
# What a compaction (it commits with dataChange=false, so at snapshot isolation) can lose to:
# a commit that removed a file it read or rewrote (a MERGE, DELETE, another OPTIMIZE), changed
# the metadata or protocol (ALTER TABLE, mergeSchema). Appends alone never conflict with it;
# ConcurrentAppendException and ConcurrentTransactionException are listed for the property
# and VACUUM commits, which run at the table's own isolation level.
CONFLICTS: tuple[type[Exception], ...] = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentTransactionException,
    MetadataChangedException,
    ProtocolChangedException,
    DeltaConcurrentModificationException,
)
T = TypeVar("T")
logger = log.get(__name__)


class ConflictError(UserError):
    """A table kept changing under maintenance until the retries ran out."""

    exit_code = EXIT_CONFLICT


def conflict_name(exc: BaseException) -> str:
    """The Delta exception's class name, as Delta and its documentation call it."""
    return type(exc).__name__


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
        except CONFLICTS as exc:
            conflicts.append(conflict_name(exc))
            if attempt >= max_retries:
                raise ConflictError(
                    f"{step} of table {table} lost {attempt + 1} time(s) to concurrent commits "
                    f"(last: {conflict_name(exc)}); run maintain when fewer writers commit to "
                    f"{table} (not beside a reconcile run) or raise maintain.max_retries"
                ) from None
            pause = backoff_s * 2**attempt
            attempt += 1
            logger.warning(
                f"{step} of {table}: {conflict_name(exc)}, retry {attempt}/{max_retries} "
                f"in {pause:g} s",
                extra={"maintain_table": table, "conflict": conflict_name(exc)},
            )
            sleep(pause)
