"""The read-only shell's corpus (tests/forensics_corpus.toml) on both engines.

Every refused case fails with the expected one-line error and leaves the warehouse's tables
(their files and Delta versions) and a sentinel folder outside the warehouse unchanged;
every allowed case runs and prints the expected rows on both engines.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from kafka_dedup import tables
from kafka_dedup.errors import UserError
from kafka_dedup.forensics import shell
from kafka_dedup.forensics.duckdb_engine import DuckDBEngine
from kafka_dedup.forensics.engine import Engine
from kafka_dedup.forensics.spark_engine import SparkEngine
from kafka_dedup.warehouse import Warehouse
from tests.integration.forensics_fixtures import handmade_warehouse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = tomllib.loads((Path(__file__).parents[1] / "forensics_corpus.toml").read_text())
ENGINES = ("duckdb", "spark")
DATABASE, OUTSIDE_DATABASE = "fx_corpus", "fx_corpus_outside"


@dataclass(frozen=True)
class Place:
    warehouse: Path
    sentinel: Path

    def sql(self, text: str) -> str:
        return (
            text.replace("@WAREHOUSE@", str(self.warehouse))
            .replace("@SENTINEL@", str(self.sentinel))
            .replace("@OUTSIDE_DB@", OUTSIDE_DATABASE)
            .replace("@DB@", DATABASE)
        )


@pytest.fixture(scope="module")
def place(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Place:
    """A copy of the hand-made warehouse, and beside it a sentinel folder worth stealing."""
    root = tmp_path_factory.mktemp("corpus")
    warehouse = root / "warehouse"
    shutil.copytree(handmade_warehouse(spark, tmp_path_factory), warehouse)
    sentinel = root / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret.csv").write_text("user,password\nroot,hunter2\n")
    (sentinel / "secret.txt").write_text('{"secret": "hunter2"}\n')
    (sentinel / "data").mkdir()
    pq.write_table(pa.table({"secret": ["hunter2"]}), sentinel / "data" / "part.parquet")
    spark.range(1).write.format("delta").save(str(sentinel / "outside"))
    Warehouse(str(warehouse), DATABASE, spark).register_all()
    Warehouse(str(sentinel), OUTSIDE_DATABASE, spark).register("outside")
    return Place(warehouse, sentinel)


@pytest.fixture(scope="module")
def engines(spark: SparkSession, place: Place) -> Iterator[dict[str, Engine]]:
    opened: dict[str, Engine] = {
        "duckdb": DuckDBEngine(Warehouse(str(place.warehouse), DATABASE)).open(),
        "spark": SparkEngine(spark, Warehouse(str(place.warehouse), DATABASE)).open(),
    }
    try:
        yield opened
    finally:
        for engine in opened.values():
            engine.close()


def snapshot(place: Place) -> dict[str, Any]:
    """Every file (size and mtime) under the warehouse and the sentinel, and table versions."""
    files = {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for root in (place.warehouse, place.sentinel)
        for path in sorted(root.rglob("*"))
    }
    versions = {
        name: DeltaTable(str(place.warehouse / name)).version()
        for name in tables.ALL_TABLES
        if (place.warehouse / name / "_delta_log").is_dir()
    }
    return {"files": files, "versions": versions}


def run(engine: Engine, text: str) -> str:
    out = io.StringIO()
    shell.run_text(engine, text, "csv", None, out)
    return out.getvalue().rstrip("\n")


def cases(kind: str) -> list[Any]:
    return [
        pytest.param(case, engine, id=f"{engine}-{case['name']}")
        for case in CORPUS[kind]
        for engine in ENGINES
        if engine in case.get("engines", ENGINES)
    ]


@pytest.mark.parametrize(("case", "engine_name"), cases("refused"))
def test_refused(case: dict[str, Any], engine_name: str, engines: dict, place: Place) -> None:
    before = snapshot(place)
    with pytest.raises(UserError) as caught:
        run(engines[engine_name], place.sql(case["sql"]))
    message = str(caught.value)
    assert case[engine_name] in message
    assert "\n" not in message
    assert snapshot(place) == before
    assert before["versions"]["deliveries"] == 1  # the warehouse as built, not an empty dir


@pytest.mark.parametrize(("case", "engine_name"), cases("allowed"))
def test_allowed(case: dict[str, Any], engine_name: str, engines: dict, place: Place) -> None:
    before = snapshot(place)
    text = case.get(f"{engine_name}_sql", case["sql"])
    output = run(engines[engine_name], place.sql(text))
    if "csv" in case:
        assert output == case["csv"]
    else:
        assert output.count("\n") >= 1  # a header and at least one row
    assert snapshot(place) == before
