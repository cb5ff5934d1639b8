"""The bounded retry of a Delta write that lost a commit race."""

from __future__ import annotations

import pytest

from kafka_dedup import conflicts


class Py4JLikeError(Exception):
    """How a JVM exception reaches Python: its class name is in the text."""


APPEND = Py4JLikeError(
    "An error occurred while calling o123.execute.\n: io.delta.exceptions."
    "ConcurrentAppendException: [DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT] Files were added "
    "to partition [event_date=2026-11-25] by a concurrent update. Please try the operation again."
)


def test_a_conflict_is_retried_until_the_write_succeeds() -> None:
    outcomes: list[object] = [APPEND, APPEND, 42]
    waits: list[float] = []

    def write() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, int)
        return outcome

    assert conflicts.retrying(write, "MERGE into events", sleep=waits.append) == 42
    assert outcomes == []
    assert len(waits) == 2 and 1.0 <= waits[0] <= 1.5 and 2.0 <= waits[1] <= 3.0


def test_after_the_last_attempt_the_error_names_the_write_and_the_fix() -> None:
    calls = []

    def write() -> None:
        calls.append(1)
        raise APPEND

    with pytest.raises(conflicts.ConflictError) as caught:
        conflicts.retrying(write, "MERGE into events", attempts=3, sleep=lambda _: None)
    assert len(calls) == 3
    assert str(caught.value) == (
        "MERGE into events: still conflicting with another writer after 3 attempts "
        "(ConcurrentAppendException); run it again once the other job's commit is done"
    )


def test_other_errors_are_raised_at_once() -> None:
    calls = []

    def write() -> None:
        calls.append(1)
        raise Py4JLikeError("org.apache.spark.SparkException: Job aborted: disk full")

    with pytest.raises(Py4JLikeError):
        conflicts.retrying(write, "MERGE into events", sleep=lambda _: None)
    assert calls == [1]


@pytest.mark.parametrize(
    "text",
    [
        "io.delta.exceptions.ConcurrentDeleteReadException: ...",
        "io.delta.exceptions.MetadataChangedException: The metadata of the Delta table has been",
        "[DELTA_CONCURRENT_DELETE_DELETE] ConcurrentDeleteDeleteException: This transaction",
        "[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: The protocol version",
    ],
)
def test_every_concurrent_modification_is_a_conflict(text: str) -> None:
    assert conflicts.is_conflict(Py4JLikeError(text))
