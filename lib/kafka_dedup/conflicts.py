"""Delta's optimistic-concurrency conflicts, and a bounded retry of the write that lost one.

Two writers of one table (the streaming ingest and the nightly reconcile, or `maintain`)
can commit at the same moment; Delta then fails the second commit with one of its
concurrent-modification exceptions. Every write retried here is idempotent (an insert-only
MERGE, a MERGE to strictly newer versions, a compaction, the replacement of one reconcile
run's rows), so running it again against the new snapshot is always right. Anything else is
raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from kafka_dedup import log

logger = log.get(__name__)

T = TypeVar("T")

# The JVM exception classes (io.delta.exceptions.*) and their Delta 4 error classes, either of
# which names the conflict in the text PySpark gives the Python exception.
CONFLICT_NAMES = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
)
ATTEMPTS = 5
FIRST_BACKOFF_S = 1.0


class ConflictError(RuntimeError):
    """A write still conflicted after every attempt."""


def is_conflict(exc: BaseException) -> bool:
    """True when `exc` is one of Delta's concurrent-modification failures."""
    text = f"{type(exc).__name__}: {exc}"
    return any(name in text for name in CONFLICT_NAMES)


def conflict_name(exc: BaseException) -> str:
    """The conflict's short name, for logs: ConcurrentAppendException, ..."""
    text = f"{type(exc).__name__}: {exc}"
    return next((name for name in CONFLICT_NAMES if name in text), type(exc).__name__)


def retrying(
    write: Callable[[], T],
    what: str,
    attempts: int = ATTEMPTS,
    first_backoff_s: float = FIRST_BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
    *,
    jitter: bool = True,
    on_conflict: Callable[[str], None] | None = None,
    give_up: Callable[[int, str], Exception] | None = None,
) -> T:
    """Run `write`; on a Delta conflict wait (doubling from first_backoff_s, with up to 50%
    jitter unless jitter=False) and run it again. Anything else is raised at once.

    Each conflict's name goes to on_conflict. After `attempts` conflicts in a row, raise
    give_up(attempts, last conflict's name), by default a ConflictError naming `what`."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            name = conflict_name(exc)
            if on_conflict is not None:
                on_conflict(name)
            if attempt == attempts:
                if give_up is not None:
                    raise give_up(attempts, name) from None
                raise ConflictError(
                    f"{what}: still conflicting with another writer after {attempts} attempts "
                    f"({name}); run it again once the other job's commit is done"
                ) from exc
            wait = first_backoff_s * 2 ** (attempt - 1)
            if jitter:
                wait *= 1 + random.random() / 2
            logger.info(
                f"{what}: {name} with another writer, attempt {attempt + 1} of {attempts} in "
                f"{wait:.1f} s",
                extra={"conflict": name},
            )
            sleep(wait)
    raise AssertionError("unreachable")
