"""Small reads of Delta logs and streaming checkpoints through Hadoop's FileSystem (local, s3a)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LAST_CHECKPOINT = "_last_checkpoint"


def _fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark._jvm
    assert jvm is not None  # a classic (not Connect) session
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration()), hadoop_path


def names(spark: SparkSession, folder: str) -> list[str]:
    """The entries of folder (empty when it does not exist)."""
    fs, path = _fs(spark, folder)
    if not fs.exists(path):
        return []
    return [status.getPath().getName() for status in fs.listStatus(path)]


def exists(spark: SparkSession, path: str) -> bool:
    """True when the file or folder exists."""
    fs, hadoop_path = _fs(spark, path)
    return bool(fs.exists(hadoop_path))


def delete(spark: SparkSession, folder: str) -> None:
    """Remove folder and everything in it (nothing when it does not exist)."""
    fs, path = _fs(spark, folder)
    fs.delete(path, True)


def read_text(spark: SparkSession, file: str) -> str | None:
    """A small file's text, None when it does not exist."""
    fs, path = _fs(spark, file)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        return str(spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
    finally:
        stream.close()


def stream_watermark_ms(spark: SparkSession, query_checkpoint: str) -> int | None:
    """The watermark of the newest batch a streaming query planned (offsets/<N>), or None."""
    batches = [int(name) for name in names(spark, f"{query_checkpoint}/offsets") if name.isdigit()]
    if not batches:
        return None
    text = read_text(spark, f"{query_checkpoint}/offsets/{max(batches)}") or ""
    lines = text.splitlines()
    if len(lines) < 2:  # pragma: no cover - a torn file; Spark writes it atomically
        return None
    return int(json.loads(lines[1]).get("batchWatermarkMs", 0))


def latest_checkpoint(spark: SparkSession, table_path: str) -> tuple[int | None, list[str]]:
    """The version _last_checkpoint names and the checkpoint files of that version present."""
    log_dir = f"{table_path}/_delta_log"
    text = read_text(spark, f"{log_dir}/{LAST_CHECKPOINT}")
    if text is None:
        return None, []
    version = int(json.loads(text)["version"])
    prefix = f"{version:020d}.checkpoint"
    return version, sorted(name for name in names(spark, log_dir) if name.startswith(prefix))
