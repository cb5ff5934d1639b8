"""`kafka-dedup sql` and `kafka-dedup forensics` as a user runs them, on the hand-made warehouse.

Subprocesses check what a shell sees (exit codes, one-line errors, no traceback, the prompt);
in-process runs cover the rest quickly, and the Spark engine on the test's own session.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import cli
from kafka_dedup.config import Config
from tests.integration.forensics_fixtures import handmade_warehouse

KAFKA_DEDUP = str(Path(sys.executable).with_name("kafka-dedup"))
DUPLICATES_SQL = "SELECT key, copy_number, likely_cause FROM duplicates ORDER BY key, copy_number"
DUPLICATES_CSV = (
    "key,copy_number,likely_cause\n"
    "k1,1,first copy\n"
    "k1,2,producer retry\n"
    "k1,3,application resend\n"
    "k2,1,first copy\n"
    "k2,2,producer retry\n"
)


@pytest.fixture(scope="module")
def warehouse_dir(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(handmade_warehouse(spark, tmp_path_factory))


def kafka_dedup(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KAFKA_DEDUP, *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_sql_prints_csv(warehouse_dir: str) -> None:
    done = kafka_dedup("sql", DUPLICATES_SQL, "--warehouse", warehouse_dir, "--format", "csv")
    assert (done.returncode, done.stdout, done.stderr) == (0, DUPLICATES_CSV, "")


@pytest.mark.parametrize(("engine", "kind"), [("duckdb", "DROP"), ("spark", "DropTable")])
def test_writes_are_refused_in_one_line_naming_the_kind(
    warehouse_dir: str, engine: str, kind: str
) -> None:
    done = kafka_dedup(
        "sql", "SELECT 1; DROP TABLE events", "--warehouse", warehouse_dir, "--engine", engine
    )
    assert done.returncode == 2
    assert done.stdout == ""  # the SELECT before it did not run either
    # the error and nothing else: no JVM, SLF4J or log4j start-up lines on the Spark engine
    assert done.stderr.splitlines() == [
        f"kafka-dedup sql: error: {kind} statement refused: sql is read-only and runs only "
        "queries, EXPLAIN (not ANALYZE), DESCRIBE and SHOW; pass --allow-write (Spark engine) "
        "to run it"
    ]


def test_a_failed_spark_job_is_one_line_without_jvm_logs(warehouse_dir: str) -> None:
    """The failed tasks' stack traces stay in the JVM: kafka-dedup reports the error once."""
    done = kafka_dedup(
        "sql", "SELECT raise_error('boom') FROM events", "--warehouse", warehouse_dir,
        "--engine", "spark",
    )  # fmt: skip
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr[:2000]
    assert done.stderr.startswith("kafka-dedup sql: error: ") and "boom" in done.stderr


def test_a_query_error_is_one_line_without_traceback(warehouse_dir: str) -> None:
    done = kafka_dedup("sql", "SELECT nope FROM events", "--warehouse", warehouse_dir)
    assert done.returncode == 2
    assert done.stderr.startswith("kafka-dedup sql: error: Binder Error: Referenced column")
    assert "nope" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_piped_statements_span_lines_and_an_error_does_not_stop_the_rest(
    warehouse_dir: str,
) -> None:
    script = "SELECT count(*) AS n\n  FROM events;\nSELECT oops;\nSELECT 'a;b' AS s;\n"
    done = kafka_dedup("sql", "--warehouse", warehouse_dir, stdin=script)
    assert done.returncode == 1
    assert done.stdout == "n\n-\n4\n(1 row)\ns\n---\na;b\n(1 row)\n"
    assert done.stderr.startswith('error: Binder Error: Referenced column "oops"')


def test_prompt_keeps_a_multi_line_statement_as_one_history_entry(
    warehouse_dir: str, tmp_path: Path
) -> None:
    history = tmp_path / "history"
    history.write_text("SELECT 1;\n")
    controller, terminal = pty.openpty()
    env = {**os.environ, "KAFKA_DEDUP_SQL_HISTORY": str(history)}
    process = subprocess.Popen(
        [KAFKA_DEDUP, "sql", "--warehouse", warehouse_dir],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    os.write(controller, b"SELECT count(*) AS n\nFROM events;\n\\q\n")
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the prompt exited
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=30) == 0
    os.close(controller)
    text = output.decode()
    assert "sql> " in text and "  -> " in text and "(1 row)" in text
    assert history.read_text().splitlines() == ["SELECT 1;", "SELECT count(*) AS n FROM events;"]


def test_sql_file_json_and_row_limit(warehouse_dir: str, tmp_path: Path, capsys) -> None:
    script = tmp_path / "q.sql"
    script.write_text(f"-- two statements\n{DUPLICATES_SQL};\nSELECT 1 AS one;\n")
    args = ["sql", "-f", str(script), "--warehouse", warehouse_dir, "--format", "json"]
    assert cli.main(args) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert json.loads(first)[2] == {
        "key": "k1",
        "copy_number": 3,
        "likely_cause": "application resend",
    }
    assert json.loads(second) == [{"one": 1}]
    assert cli.main(["sql", DUPLICATES_SQL, "--warehouse", warehouse_dir, "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[-1] == "(2 rows shown; more were cut: raise --limit or use 0)"


def test_forensics_commands(warehouse_dir: str, capsys) -> None:
    base = ["--warehouse", warehouse_dir, "--format", "json"]
    assert cli.main(["forensics", "summary", *base]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"][0]["duplicate_copies"] == 3
    assert summary["late"] == [
        {
            "late_rows_counted_by_ingest": 1,
            "valid_events_not_in_events": 0,
            "events_merged_by_reconcile": 0,
        }
    ]
    assert (
        cli.main(
            ["forensics", "as-of", "--version", "0", "--table", "entity_state", "summary", *base]
        )
        == 0
    )
    past = json.loads(capsys.readouterr().out)
    assert past["overall"][0]["deliveries"] == 3
    assert past["notes"][0].startswith("as of entity_state version 0 (")
    assert cli.main(["forensics", "trace", "--event-id", "e1", *base]) == 0
    story = json.loads(capsys.readouterr().out)
    assert [d["likely_cause"] for d in story["deliveries"]] == [
        "first copy",
        "producer retry",
        "application resend",
    ]
    assert cli.main(["forensics", "top-keys", "--top", "1", "--warehouse", warehouse_dir]) == 0
    assert "k1  |                 1 |            2 |" in capsys.readouterr().out


def test_forensics_bad_input_is_a_one_line_error(warehouse_dir: str, capsys) -> None:
    assert (
        cli.main(
            ["forensics", "as-of", "--timestamp", "soon", "summary", "--warehouse", warehouse_dir]
        )
        == 2
    )
    assert capsys.readouterr().err == (
        "kafka-dedup forensics: error: timestamp 'soon' is not ISO-8601; use e.g. "
        "2026-11-25T10:00:00Z\n"
    )
    assert cli.main(["forensics", "summary", "--warehouse", warehouse_dir + "/nowhere"]) == 2
    assert "does not exist; pass --warehouse DIR" in capsys.readouterr().err


def _spark_config_file(base_config: Config, tmp_path: Path, warehouse_dir: str) -> str:
    """The test session's own settings, so the CLI joins that session without changing it."""
    spark = base_config.spark
    conf = ", ".join(f'"{k}" = "{v}"' for k, v in spark.conf.items())
    path = tmp_path / "spark.toml"
    path.write_text(
        f'[spark]\nmaster = "{spark.master}"\nshuffle_partitions = {spark.shuffle_partitions}\n'
        f"conf = {{ {conf} }}\n"
        f'[storage]\nwarehouse = "{warehouse_dir}"\ndatabase = "fx_cli"\n'
    )
    return str(path)


def test_spark_engine_reports_errors_and_writes_only_when_allowed(
    warehouse_dir: str, base_config: Config, spark: SparkSession, tmp_path: Path, capsys
) -> None:
    config = _spark_config_file(base_config, tmp_path, warehouse_dir)
    run = ["sql", "--config", config, "--engine", "spark"]
    assert cli.main([*run, "SELECT nope FROM events"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("kafka-dedup sql: error: [UNRESOLVED_COLUMN")
    assert error.count("\n") == 1 and "Traceback" not in error
    scratch = str(tmp_path / "scratch")
    spark.range(1).write.format("delta").save(scratch)
    insert = f"INSERT INTO delta.`{scratch}` VALUES (7)"
    assert cli.main([*run, insert]) == 2
    assert "InsertIntoStatement statement refused" in capsys.readouterr().err
    assert cli.main([*run, "--allow-write", insert]) == 0
    assert capsys.readouterr().err == (
        "kafka-dedup sql: --allow-write: statements are not checked and can change tables "
        "and files (Spark engine)\n"
    )
    assert sorted(r.id for r in spark.read.format("delta").load(scratch).collect()) == [0, 7]
    assert not spark.sparkContext._jsc.sc().isStopped()  # the CLI did not stop a session it joined
