"""How the add-on jars reach the JVMs: local mode reads them in place, a cluster gets copies."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark import SparkContext

from kafka_dedup import config as config_mod
from kafka_dedup import session as session_mod

JARS = ("bundle-2.24.6.jar", "delta-spark_2.13-4.0.0.jar", "hadoop-aws-3.4.1.jar")


@pytest.fixture
def jars_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in JARS:
        (tmp_path / name).write_bytes(b"")
    # as before any session: no JVM yet, not under spark-submit
    monkeypatch.setattr(SparkContext, "_gateway", None)
    monkeypatch.delenv(session_mod.GATEWAY_ENV, raising=False)
    return tmp_path


def config(jars_dir: Path, **storage: str) -> config_mod.Config:
    return config_mod.load(
        environ={}, flags={"spark": {"jars_dir": str(jars_dir)}, "storage": storage}
    )


def test_local_mode_puts_the_jars_on_the_driver_class_path_without_copying(jars_dir: Path) -> None:
    conf = session_mod.jars_conf(config(jars_dir), "local[2]")
    slf4j = session_mod.spark_slf4j_api()
    class_path = [*slf4j, *(str(jars_dir / j) for j in JARS)]
    assert conf == {"spark.driver.extraClassPath": ":".join(class_path)}


def test_spark_slf4j_api_comes_before_the_aws_bundle_and_its_slf4j_1() -> None:
    """Spark's SLF4J 2 API first: the bundle's SLF4J 1 API would find no binding."""
    slf4j = session_mod.spark_slf4j_api()
    assert [Path(jar).name.rsplit("-", 1)[0] for jar in slf4j] == ["slf4j-api"]
    assert Path(slf4j[0]).is_file()


def test_the_driver_jvm_this_process_starts_logs_through_the_project_log4j2_file(
    jars_dir: Path,
) -> None:
    conf = session_mod.session_conf(config(jars_dir), "local[2]")
    option = f"-Dlog4j2.configurationFile={session_mod.LOG4J2_CONFIG}"
    assert conf["spark.driver.extraJavaOptions"] == option
    assert "rootLogger.level = warn" in session_mod.LOG4J2_CONFIG.read_text()


def test_a_cluster_gets_spark_jars_and_the_s3a_jars_only_when_s3_is_used(jars_dir: Path) -> None:
    master = "spark://127.0.0.1:7077"
    local_tables = session_mod.jars_conf(config(jars_dir), master)
    assert local_tables == {"spark.jars": str(jars_dir / "delta-spark_2.13-4.0.0.jar")}
    on_s3 = session_mod.jars_conf(config(jars_dir, warehouse="s3a://lake/warehouse"), master)
    assert on_s3 == {"spark.jars": ",".join(str(jars_dir / j) for j in JARS)}


def test_a_running_jvm_gets_spark_jars_even_in_local_mode(
    jars_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(session_mod.GATEWAY_ENV, "12345")  # spark-submit started the JVM
    conf = session_mod.jars_conf(config(jars_dir), "local[*]")
    assert set(conf) == {"spark.jars"}


@pytest.mark.parametrize(
    ("master", "local"),
    [("local", True), ("local[*]", True), ("local[2]", True), ("spark://h:7077", False),
     ("yarn", False), ("k8s://https://h:443", False)],
)  # fmt: skip
def test_is_local(master: str, local: bool) -> None:
    assert session_mod.is_local(master) is local
