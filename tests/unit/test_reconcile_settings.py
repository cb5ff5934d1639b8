"""The [reconcile] config table: DESIGN.md's source shape, defaults, and one-line errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import tomli_w

from kafka_dedup import config as config_mod
from kafka_dedup.config import Config, ConfigError, to_table, tomllib
from kafka_dedup.reconcile import settings
from kafka_dedup.reconcile.settings import Settings, Source

DESIGN_EXAMPLE = """
[[reconcile.sources]]
name = "payments"                 # one per downstream service
format = "parquet"                # delta | parquet | json | csv | jdbc
path = "s3a://lake/payments/charges/"   # jdbc: url = "...", table = "..." (or query)
event_id_column = "event_id"
key_column = "order_id"           # optional
effect_id_column = "charge_id"    # optional
effect_time_column = "charged_at" # optional
expects_event_types = ["order.paid"]   # these events need exactly one effect here
compare = { "payload.amount" = "amount" }  # event field -> effect column
"""


def test_design_example_parses_from_a_config_file(tmp_path: Path) -> None:
    file = tmp_path / "reconcile.toml"
    file.write_text(
        DESIGN_EXAMPLE + '\n[[reconcile.sources]]\nname = "mails"\nformat = "jdbc"\n'
        'url = "jdbc:sqlite:/tmp/mails.db"\ntable = "sent"\n'
    )
    parsed = config_mod.load(file, environ={}).reconcile
    assert parsed.sources == (
        Source(
            name="payments",
            format="parquet",
            path="s3a://lake/payments/charges/",
            event_id_column="event_id",
            key_column="order_id",
            effect_id_column="charge_id",
            effect_time_column="charged_at",
            expects_event_types=("order.paid",),
            compare=(("payload.amount", "amount"),),
        ),
        Source(name="mails", format="jdbc", url="jdbc:sqlite:/tmp/mails.db", table="sent"),
    )
    # the key is part of the identity (key, event_id), not a compared field
    assert parsed.sources[0].comparisons() == (("payload.amount", "amount"),)
    assert parsed.sources[1].effects_per_event == 1


def test_no_reconcile_table_gives_defaults() -> None:
    parsed = settings.parse({})
    assert parsed == Settings()
    assert parsed.sources == ()
    assert (parsed.lookback, parsed.grace) == (timedelta(days=1), timedelta(hours=1))
    assert parsed.thresholds == {
        "MISSING": 0,
        "DUPLICATE": 0,
        "ORPHAN": 0,
        "MISMATCH": 0,
        "UNMERGED": None,
        "LATE_EFFECT": 0,
        "UNMERGEABLE": 0,
        "PENDING": None,
        "MALFORMED": 0,  # unclassifiable side-effect rows alert by default
    }
    assert parsed.report_dir == ""  # <warehouse>/_reports
    assert settings.report_folder("", "s3a://lake/wh/", "2026-11-25") == (
        "s3a://lake/wh/_reports/2026-11-25"
    )


def test_windows_thresholds_and_remediation_are_configurable() -> None:
    parsed = settings.parse(
        {
            "lookback": "2 days",
            "grace": "90 minutes",
            "late_lookback": "3 days",
            "thresholds": {"duplicate": 5, "MISSING": -1, "malformed": 3},
            "remediation_topic": "fixes",
            "report_dir": "out",
            "top_rows": 5,
        }
    )
    assert parsed.lookback == timedelta(days=2)
    assert parsed.grace == timedelta(minutes=90)
    assert parsed.late_lookback == timedelta(days=3)
    assert parsed.thresholds["DUPLICATE"] == 5
    assert parsed.thresholds["MISSING"] is None
    assert parsed.thresholds["MALFORMED"] == 3
    assert (parsed.remediation_topic, parsed.report_dir, parsed.top_rows) == ("fixes", "out", 5)
    assert settings.describe(parsed.grace) == "90 minutes"


BASE = {"name": "payments", "format": "parquet", "path": "/x"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sources": [{**BASE, "format": "avro"}]}, "reconcile.sources[payments].format = 'avro'"),
        ({"sources": [{**BASE, "path": ""}]}, "reconcile.sources[payments].path: required"),
        ({"sources": [{**BASE, "format": "jdbc", "url": "jdbc:sqlite:/x"}]}, "exactly one of"),
        ({"sources": [{**BASE, "format": "jdbc", "url": "sqlite:/x", "table": "t"}]}, "JDBC URL"),
        ({"sources": [{**BASE, "colour": "red"}]}, "unknown key 'colour'"),
        ({"sources": [{**BASE, "name": "a b"}]}, "expected a name like 'payments'"),
        ({"sources": [BASE, BASE]}, "name 'payments' is used twice"),
        ({"sources": [{**BASE, "compare": {"amount": "amount"}}]}, "unknown event field"),
        ({"sources": [{**BASE, "effects_per_event": 0}]}, "whole number >= 1"),
        ({"sources": [{**BASE, "tolerance": -1}]}, "a number >= 0"),
        ({"sources": [{**BASE, "expects_event_types": [1]}]}, "a list of strings"),
        ({"sources": {"name": "x"}}, "expected [[reconcile.sources]] tables"),
        ({"lookback": "soon"}, "reconcile.lookback = 'soon': expected a duration"),
        ({"thresholds": {"LATE": 1}}, "reconcile.thresholds.LATE: unknown class"),
        ({"thresholds": {"MISSING": "none"}}, "reconcile.thresholds.MISSING"),
        ({"window": "1 day"}, "unknown key reconcile.window"),
    ],
)
def test_bad_settings_fail_with_one_line(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.parse(raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_typed_reconcile_round_trips_through_the_toml_it_writes() -> None:
    # the job-run config file is written from config.reconcile: reading it back gives it again
    parsed = settings.parse(
        {
            "lookback": "36 hours",
            "grace": "500 milliseconds",
            "thresholds": {"missing": -1, "DUPLICATE": 2},
            "sources": [
                {**BASE, "compare": {"payload.amount": "amount"}, "options": {"mergeSchema": 1}},
                {"name": "mails", "format": "jdbc", "url": "jdbc:sqlite:/m", "query": "select 1"},
            ],
        }
    )
    table = to_table(parsed)
    assert table["thresholds"] == {"MISSING": -1, "DUPLICATE": 2}
    assert table["sources"][1] == {
        "name": "mails", "format": "jdbc", "url": "jdbc:sqlite:/m", "query": "select 1"
    }  # fmt: skip
    text = tomli_w.dumps({"reconcile": table})
    assert config_mod.apply(Config(), tomllib.loads(text), "the test").reconcile == parsed
    assert to_table(Settings()) == {}


def test_a_source_without_a_name_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        settings.parse({"sources": [{"format": "csv", "path": "x"}]})
    assert str(caught.value) == "reconcile.sources[0].name: required"
