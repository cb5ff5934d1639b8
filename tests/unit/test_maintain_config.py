"""[maintain]: config, compaction scope beside a live ingest, retentions, the retry bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_dedup import config as config_mod
from kafka_dedup import tables
from kafka_dedup.cli import main
from kafka_dedup.config import ConfigError
from kafka_dedup.maintain import policy
from kafka_dedup.maintain.retry import EXIT_CONFLICT, ConflictError, with_retries

DAY_S = 86400
# 2026-12-01T00:30:00Z: the stream's watermark half an hour into a day
WATERMARK_MS = 1_796_085_000_000


class DeltaConflictError(Exception):
    """How a Delta conflict reaches Python: the JVM class is named in the text."""


def test_defaults_keep_deltas_own_week_and_retry_five_times() -> None:
    maintain = config_mod.load(environ={}).maintain
    assert (maintain.retention, maintain.max_retries) == ("7 days", 5)
    assert (maintain.retry_backoff, maintain.tables) == ("2 seconds", ())


def test_file_env_and_flags_set_it_in_order(tmp_path: Path) -> None:
    path = tmp_path / "kafka-dedup.toml"
    path.write_text('[maintain]\nretention = "30 days"\ntables = ["events"]\nmax_retries = 1\n')
    environ = {"KAFKA_DEDUP_MAINTAIN__TABLES": "events, entity_state"}
    flags = {"maintain": {"max_retries": "3"}}
    maintain = config_mod.load(path, environ=environ, flags=flags).maintain
    assert maintain.retention == "30 days"
    assert maintain.tables == ("events", "entity_state")
    assert maintain.max_retries == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"retention": "1 day"}, "maintain.retention = '1 day': at least '7 days' (Delta's "
         "default delta.deletedFileRetentionDuration)"),
        ({"retention": "a week"}, "maintain.retention = 'a week': expected a delay like "
         "'1 hour' or '30 minutes'"),
        ({"max_retries": -1}, "maintain.max_retries = -1: expected a whole number >= 0"),
        ({"max_retries": True}, "maintain.max_retries = True: expected a whole number"),
        ({"retry_backoff": "soon"}, "maintain.retry_backoff = 'soon': expected a delay like "
         "'1 hour' or '30 minutes'"),
        ({"tables": ["events", "orders"]}, "maintain.tables = ('events', 'orders'): unknown "
         "table 'orders'; expected some of " + ", ".join(tables.ALL_TABLES)),
        ({"vacuum": True}, "unknown key maintain.vacuum in the command line; known keys: "
         "max_retries, retention, retry_backoff, tables"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_key_and_fix(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as failed:
        config_mod.load(environ={}, flags={"maintain": values})
    assert str(failed.value) == message


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--retention", "2 hours"], "maintain.retention = '2 hours': at least '7 days'"),
        (["--table", "events", "--table", "nope"], "maintain.tables = ('events', 'nope'): "
         "unknown table 'nope'"),
    ],
)  # fmt: skip
def test_the_command_refuses_bad_flags_before_spark_starts(
    argv: list[str], line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["maintain", "--warehouse", str(tmp_path / "w"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"kafka-dedup maintain: error: {line}") and err.count("\n") == 1
    assert not (tmp_path / "w").exists()


def test_without_a_live_ingest_every_table_is_compacted_whole() -> None:
    for name in tables.ALL_TABLES:
        assert policy.compaction_scope(name, False, WATERMARK_MS) == policy.Scope()


def test_beside_a_live_ingest_only_what_it_never_reads_is_compacted() -> None:
    for name in (*policy.APPEND_ONLY, *policy.RECONCILE_ONLY):
        assert policy.compaction_scope(name, True, WATERMARK_MS) == policy.Scope()
    events = policy.compaction_scope(tables.EVENTS, True, WATERMARK_MS)
    assert events == policy.Scope(where="event_date < DATE'2026-12-01'")
    no_batch_yet = policy.compaction_scope(tables.EVENTS, True, None)
    assert no_batch_yet.skip and policy.compaction_scope(tables.EVENTS, True, 0).skip
    state = policy.compaction_scope(tables.ENTITY_STATE, True, WATERMARK_MS)
    assert state.describe() == f"skipped: {policy.MERGED_EVERY_BATCH}"


def test_retentions_are_raised_to_the_window_and_never_lowered() -> None:
    # Delta's defaults: 30 days of log, 7 days of deleted files
    assert policy.properties_to_raise({}, 7 * DAY_S) == {}
    assert policy.properties_to_raise({}, 14 * DAY_S) == {
        policy.DELETED_FILE_RETENTION: f"interval {14 * DAY_S} seconds"
    }
    assert policy.properties_to_raise({}, 60 * DAY_S) == {
        policy.LOG_RETENTION: f"interval {60 * DAY_S} seconds",
        policy.DELETED_FILE_RETENTION: f"interval {60 * DAY_S} seconds",
    }
    longer = {policy.LOG_RETENTION: "interval 90 days", policy.DELETED_FILE_RETENTION: "8 weeks"}
    assert policy.properties_to_raise(longer, 30 * DAY_S) == {}
    # VACUUM keeps the longer of the window and the table's own deleted-file retention
    assert policy.vacuum_hours({}, 7 * DAY_S) == 168
    assert policy.vacuum_hours(longer, 30 * DAY_S) == 56 * 24
    with pytest.raises(ValueError, match="unreadable Delta interval"):
        policy.interval_seconds("forever", 1)


def test_conflicts_are_retried_with_doubling_pauses_then_one_line() -> None:
    pauses: list[float] = []
    conflicts: list[str] = []
    outcomes = iter(
        [
            DeltaConflictError("MetadataChangedException: winner changed metadata"),
            DeltaConflictError("io.delta.exceptions.ConcurrentAppendException: winner appended"),
            "done",
        ]
    )

    def action(attempt: int) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return f"{outcome} at attempt {attempt}"

    result = with_retries(action, "events", "compaction", 2, 0.5, conflicts, pauses.append)
    assert result == "done at attempt 2"
    assert (pauses, conflicts) == (
        [0.5, 1.0],
        ["MetadataChangedException", "ConcurrentAppendException"],
    )

    def always(attempt: int) -> None:
        raise DeltaConflictError("MetadataChangedException: winner changed metadata")

    with pytest.raises(ConflictError) as failed:
        with_retries(always, "entity_state", "compaction", 1, 0, [], pauses.append)
    assert failed.value.exit_code == EXIT_CONFLICT
    assert str(failed.value).startswith(
        "compaction of table entity_state lost 2 time(s) to concurrent commits (last: "
        "MetadataChangedException); run maintain when fewer writers commit"
    )
    with pytest.raises(ZeroDivisionError):  # anything else is no conflict: not retried
        with_retries(lambda attempt: 1 / 0, "events", "compaction", 3, 0, [], pauses.append)
