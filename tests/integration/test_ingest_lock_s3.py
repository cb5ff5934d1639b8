"""The ingest lease for S3 checkpoints, against a real moto server's DynamoDB.

Plain S3 cannot keep two runs apart, so the lease is a conditional-write item in the stack's
log-store table. Checked: a second run is refused with the holder's name, a lease expires,
a SIGKILLed holder on this host frees it at once, the heartbeat renews it, release frees it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from kafka_dedup import config as config_mod
from kafka_dedup.config import Config
from kafka_dedup.ingest import lock
from kafka_dedup.ingest.lock_dynamodb import DynamoDbLeaseStore
from tests.aws_fixtures import REGION, log_store_table

CHECKPOINTS = "s3a://lake/checkpoints"


@pytest.fixture
def s3_config(moto_endpoint: str) -> Config:
    """S3 checkpoints and a fresh table with the log store's key schema on the moto server."""
    table = log_store_table(moto_endpoint, "lock-" + uuid.uuid4().hex[:8])
    return config_mod.load(
        environ={},
        flags={
            "storage": {"checkpoints": CHECKPOINTS},
            "ingest": {"lock_lease": "3 seconds"},
            "s3": {
                "dynamodb_log_store_table": table,
                "dynamodb_endpoint": moto_endpoint,
                "region": REGION,
            },
        },
    )


def never_lost() -> None:
    raise AssertionError("the lease was lost")


def refusal(config: Config, run_id: str) -> lock.LockHeldError:
    """The error a run gets when it asks for a lease another run holds."""
    with pytest.raises(lock.LockHeldError) as refused, lock.hold(config, run_id, never_lost):
        raise AssertionError("two runs held the lease")
    return refused.value


def test_a_second_run_is_refused_with_one_line_naming_the_holder(s3_config: Config) -> None:
    with lock.hold(s3_config, "first-run", never_lost):
        refused = refusal(s3_config, "second-run")
    message = str(refused)
    assert refused.exit_code == lock.EXIT_LOCKED == 4
    assert "\n" not in message
    assert message.startswith(f"checkpoints {CHECKPOINTS} are held by run first-run (pid ")
    assert f"(pid {os.getpid()} on " in message
    # released: the next run gets it at once
    with lock.hold(s3_config, "third-run", never_lost) as held:
        assert held.run_id == "third-run"


def test_a_foreign_lease_blocks_until_it_expires(s3_config: Config) -> None:
    store = lock.store_for(s3_config)
    assert isinstance(store, DynamoDbLeaseStore)
    now = time.time()
    assert store.try_acquire(lock.Holder("elsewhere", "other-host", 1, now, now + 2)) is None
    mine = lock.Holder("mine", "this-host", os.getpid(), now, now + 30)
    holder = store.try_acquire(mine)
    assert holder is not None and (holder.run_id, holder.host) == ("elsewhere", "other-host")
    time.sleep(2.2)
    assert store.try_acquire(mine) is None


def test_lock_wait_waits_for_the_holder_then_gives_up(s3_config: Config) -> None:
    waiting = config_mod.apply(s3_config, {"ingest": {"lock_wait": "2 seconds"}}, "the test")
    with lock.hold(s3_config, "holder", never_lost):
        started = time.monotonic()
        with pytest.raises(lock.LockHeldError), lock.hold(waiting, "waiter", never_lost):
            pass
        assert 2 <= time.monotonic() - started < 5


def test_the_heartbeat_renews_the_lease_and_release_frees_it(s3_config: Config) -> None:
    store = lock.store_for(s3_config)
    with lock.hold(s3_config, "beating", never_lost, store=store) as me:
        time.sleep(2.5)  # a 3 s lease is renewed every second
        current = store._read()  # type: ignore[attr-defined]
        assert current is not None and current.run_id == "beating"
        assert current.expires > me.expires
    released = store._read()  # type: ignore[attr-defined]
    assert released is not None and released.expires == 0.0


def test_a_sigkilled_holder_on_this_host_frees_the_lease_at_once(
    s3_config: Config, tmp_path: Path
) -> None:
    held = tmp_path / "held"
    script = textwrap.dedent(
        f"""
        import sys, time
        from kafka_dedup import config as config_mod
        from kafka_dedup.ingest import lock
        config = config_mod.load(environ={{}}, flags={{
            "storage": {{"checkpoints": {CHECKPOINTS!r}}},
            "ingest": {{"lock_lease": "10 minutes"}},
            "s3": {{"dynamodb_log_store_table": {s3_config.s3.dynamodb_log_store_table!r},
                    "dynamodb_endpoint": {s3_config.s3.dynamodb_endpoint!r},
                    "region": {REGION!r}}}}})
        with lock.hold(config, "killed-run", lambda: None):
            open({str(held)!r}, "w").close()
            time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not held.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        refused = f"run killed-run \\(pid {holder.pid} on "
        with (
            pytest.raises(lock.LockHeldError, match=refused),
            lock.hold(s3_config, "too-early", never_lost),
        ):
            pass
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    # the 10-minute lease has not expired, but its process is gone
    with lock.hold(s3_config, "next-run", never_lost) as me:
        assert me.run_id == "next-run"


def test_s3_checkpoints_without_a_lock_table_fail_with_one_line() -> None:
    config = config_mod.load(environ={}, flags={"storage": {"checkpoints": CHECKPOINTS}})
    with pytest.raises(config_mod.ConfigError, match="set s3.dynamodb_log_store_table"):
        lock.store_for(config)
