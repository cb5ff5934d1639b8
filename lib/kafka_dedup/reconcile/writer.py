"""The end of a run, at the edge: collect the figures, publish remediation, write the report
files and the run row. Everything it writes is built by pure functions elsewhere."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from kafka_dedup import log, tables
from kafka_dedup.domain import PENDING
from kafka_dedup.paths import is_remote
from kafka_dedup.reconcile import figures, remediation, report, report_html, store, summary
from kafka_dedup.reconcile.context import Run, RunResult, read_events
from kafka_dedup.reconcile.settings import report_folder

logger = log.get(__name__)


def write_text(spark: SparkSession | None, path: str, text: str) -> str:
    """A local file, or any URI Hadoop can write (s3a://, s3:// on EMR) through Spark's FS."""
    if not is_remote(path) or spark is None:
        local = Path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        return path
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    target = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    stream = target.getFileSystem(hadoop_conf).create(target, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return path


def collect_figures(
    findings_df: DataFrame, day_events_df: DataFrame, run: Run, stats: dict[str, dict]
) -> summary.Figures:
    """Run the few small Spark jobs the summary needs: counts by hour, top rows, events."""
    counts = [
        summary.HourCount(row.source, row.finding_type, row.hour, row["count"])
        for row in figures.count_by_hour(findings_df, run.day_start, run.day_end).collect()
    ]
    top = [row.asDict() for row in figures.select_top(findings_df, run.settings.top_rows).collect()]
    return summary.Figures(counts, top, day_events_df.count(), stats)


def publish(run: Run, findings_df: DataFrame) -> int:
    """One remediation message per finding (PENDING ones have nothing to do yet)."""
    topic = run.settings.remediation_topic
    if not topic:
        return 0
    run.progress.step(f"publishing remediation messages to {topic}")
    rows = figures.with_replay_payloads(
        findings_df.where(F.col("finding_type") != PENDING), run.lake.read(tables.EVENTS)
    ).toLocalIterator()
    return remediation.publish(
        run.config.kafka.bootstrap_servers, topic, (row.asDict() for row in rows)
    )


def write_reports(spark: SparkSession, result: dict[str, Any]) -> None:
    """summary.json and report.html, where the summary says they go."""
    write_text(spark, result["report"]["json"], report.json_text(result))
    write_text(spark, result["report"]["html"], report_html.page(result))


def finish(run: Run, stats: dict[str, dict], unmerged_found: int, inserted: int) -> RunResult:
    """Summarise, publish remediation, write the report files and the run row."""
    run.progress.step("summarising")
    findings_df = store.read_findings(run.lake, run.run_date)
    assert findings_df is not None  # written by this run before
    day_events_df = read_events(run, run.day_start, run.day_end)
    collected = collect_figures(findings_df, day_events_df, run, stats)
    collected.unmerged_found, collected.unmerged_inserted = unmerged_found, inserted
    collected.published = publish(run, findings_df)
    folder = report_folder(run.settings.report_dir, run.lake.root, run.run_date.isoformat())
    finished = datetime.now(timezone.utc)
    result = summary.with_report(summary.build(run, collected), run, folder, finished)
    write_reports(run.spark, result)
    row = summary.run_row(run, result, None, finished)
    row["summary_json"] = report.json_text(result)
    store.replace_run(run.lake, row)
    run.progress.step(f"done: {result['status']}")
    return RunResult(result["exit_code"], result)


def record_failure(run: Run, exc: BaseException) -> None:
    """Best effort: a failed run still leaves a row saying why."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
    finished = datetime.now(timezone.utc)
    try:
        store.replace_run(run.lake, summary.run_row(run, None, first_line, finished))
    except Exception as write_exc:  # noqa: BLE001 - the original error matters more
        logger.warning("could not record the failed run: %s", write_exc)
