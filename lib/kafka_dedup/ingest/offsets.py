"""Where a run resumes: the Delta tables, not the checkpoints, are the record of what was read.

Before anything is written, each Kafka partition's highest offset in `deliveries` (and in
`quarantine`) is compared with what Kafka holds now: a recreated topic or offsets deleted
before they were read stop the run. A new checkpoint starts each partition right after that
offset, and every batch drops the offsets the tables already held, so an offset is written
once whatever happened to the checkpoints (deleted, reset, restored from an old backup)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import chain

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from kafka_dedup import tables
from kafka_dedup.config import Config
from kafka_dedup.errors import UserError
from kafka_dedup.kafka import admin
from kafka_dedup.warehouse import Warehouse

Partition = tuple[str, int]
SPARK_OFFSET_CODES = {"earliest": -2, "latest": -1}  # startingOffsets JSON's special values
TOPIC_ID_PROPERTY = "kafka_dedup.topic_id."  # deliveries table property, one per topic


class KafkaLogError(UserError):
    """Kafka no longer holds the log the tables were filled from (recreated or truncated)."""


@dataclass(frozen=True)
class Written:
    """Highest offset per partition in deliveries and in quarantine when the run started."""

    delivered: dict[Partition, int] = field(default_factory=dict)
    quarantined: dict[Partition, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Resume:
    """Everything the run's queries need to continue where the tables end."""

    written: Written
    logs: dict[str, admin.TopicLog]
    known_ids: dict[str, str]  # topic ids recorded on deliveries by earlier runs
    starting_offsets: str  # Spark uses it only when the deliveries checkpoint is new
    events_starting_version: int | None  # idem for a new events checkpoint; None: from the start


def max_offsets(rows_df: DataFrame) -> dict[Partition, int]:
    """Highest offset per (topic, partition) of rows with Kafka coordinates.

    Reads three narrow columns; Delta answers no grouped aggregate from file statistics."""
    rows = rows_df.groupBy("topic", "partition").agg(F.max("offset").alias("offset")).collect()
    return {(row.topic, row.partition): row.offset for row in rows}


def read_max_offsets(lake: Warehouse, name: str) -> dict[Partition, int]:
    """max_offsets of a contract table ({} before its first commit)."""
    return max_offsets(lake.read(name)) if lake.exists(name) else {}


def read_written(lake: Warehouse) -> Written:
    """What deliveries and quarantine hold, per partition."""
    return Written(
        read_max_offsets(lake, tables.DELIVERIES), read_max_offsets(lake, tables.QUARANTINE)
    )


def filter_unwritten(rows_df: DataFrame, written: dict[Partition, int]) -> DataFrame:
    """Rows whose offset lies beyond the highest one the table held at the start of the run.

    Per partition a table holds a prefix of the log (batches commit in offset order, one
    run at a time), so this is exact: it drops what is there and keeps what is not."""
    if not written:
        return rows_df
    pairs = chain.from_iterable(
        (F.lit(f"{topic}:{partition}"), F.lit(offset))
        for (topic, partition), offset in written.items()
    )
    # ':' cannot occur in a Kafka topic name
    held = F.create_map(*pairs)[F.concat_ws(":", "topic", F.col("partition").cast("string"))]
    return rows_df.where(held.isNull() | (F.col("offset") > held))


def subscribed(config: Config, existing: set[str]) -> list[str]:
    """The topics this run reads (a pattern is matched whole, as Kafka's consumer does)."""
    if config.kafka.topic_pattern:
        pattern = re.compile(config.kafka.topic_pattern)
        return sorted(topic for topic in existing if pattern.fullmatch(topic))
    return list(config.kafka.topics)


def check_log(
    written: Written, logs: dict[str, admin.TopicLog], ids: dict[str, str], fail_on_loss: bool
) -> None:
    """Stop before writing when Kafka's log is not the one deliveries was read from."""
    reset = "ingest it into a new --warehouse and --checkpoints, or move the old topic's rows "
    reset += "out of deliveries and quarantine and delete the checkpoints"
    for topic, log in logs.items():
        if ids.get(topic, log.topic_id) != log.topic_id:
            raise KafkaLogError(
                f"topic {topic} was recreated (id {log.topic_id}, deliveries were read from id "
                f"{ids[topic]}): its offsets restart and would collide with the old ones; {reset}"
            )
    for (topic, partition), offset in sorted(written.delivered.items()):
        if topic not in logs:
            continue  # not read by this run
        earliest, end = logs[topic].offsets.get(partition, (0, 0))
        if offset >= end:
            raise KafkaLogError(
                f"topic {topic} was recreated: partition {partition} ends at offset {end} but "
                f"deliveries already holds offset {offset} of it; {reset}"
            )
        if fail_on_loss and offset + 1 < earliest:
            raise KafkaLogError(
                f"Kafka no longer holds offsets {offset + 1}-{earliest - 1} of {topic} "
                f"partition {partition}, which deliveries has not read (deleted by retention); "
                "to skip them knowingly, rerun with KAFKA_DEDUP_KAFKA__FAIL_ON_DATA_LOSS=false"
            )


def starting_offsets(
    configured: str, delivered: dict[Partition, int], logs: dict[str, admin.TopicLog]
) -> str:
    """Spark startingOffsets: after the table's highest offset where it has one; the
    configured earliest/latest/JSON only for partitions the table has never seen."""
    if not logs:
        return configured  # Kafka not asked (authenticated cluster): the batch filter still holds
    explicit = json.loads(configured) if configured.lstrip().startswith("{") else {}
    default = SPARK_OFFSET_CODES.get(configured, SPARK_OFFSET_CODES["earliest"])
    offsets = {
        topic: {
            str(partition): delivered[(topic, partition)] + 1
            if (topic, partition) in delivered
            else int(explicit.get(topic, {}).get(str(partition), default))
            for partition in sorted(log.offsets)
        }
        for topic, log in logs.items()
    }
    return json.dumps(offsets, sort_keys=True)


def topic_ids(lake: Warehouse) -> dict[str, str]:
    """Kafka topic ids recorded on the deliveries table by earlier runs."""
    if not lake.exists(tables.DELIVERIES):
        return {}
    detail = lake.table(tables.DELIVERIES).detail().first()
    properties = detail["properties"] if detail is not None else {}
    return {
        key[len(TOPIC_ID_PROPERTY) :]: value
        for key, value in (properties or {}).items()
        if key.startswith(TOPIC_ID_PROPERTY)
    }


def record_topic_ids(lake: Warehouse, resume: Resume) -> None:
    """Remember the ids of topics read for the first time (one table property each)."""
    new = {t: log.topic_id for t, log in resume.logs.items() if t not in resume.known_ids}
    if new:
        assignments = ", ".join(f"'{TOPIC_ID_PROPERTY}{t}' = '{i}'" for t, i in new.items())
        deliveries_path = lake.location(tables.DELIVERIES)
        lake.spark.sql(f"ALTER TABLE delta.`{deliveries_path}` SET TBLPROPERTIES ({assignments})")


def has_planned_batches(lake: Warehouse, checkpoint: str) -> bool:
    """True when the streaming checkpoint at this location has planned a batch (offsets/N).

    Read through Hadoop's FileSystem, so local folders and s3a:// behave alike."""
    jvm = lake.spark.sparkContext._jvm
    assert jvm is not None  # a classic (not Connect) session
    folder = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets")
    fs = folder.getFileSystem(lake.spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(folder):
        return False
    return any(status.getPath().getName().isdigit() for status in fs.listStatus(folder))


def events_starting_version(lake: Warehouse, checkpoint: str) -> int | None:
    """Where a new events checkpoint starts reading deliveries: at the latest commit when
    events already has rows, so it re-reads one commit, not the whole table; None when
    events is empty (nothing can be inserted twice). Rows written before that commit and
    not merged yet are merged by the nightly run (UNMERGED).

    None as well once the checkpoint has planned a batch: Delta's source plans a re-run of
    batch 0 (killed before its commit) from the startingVersion option, not from the
    checkpoint, so a version taken from the tables now (events holds that batch's rows,
    entity_state may not) would replay it empty and leave entity_state without its keys.
    Without the option the re-run reads the batch's snapshot again, which covers it."""
    if has_planned_batches(lake, checkpoint):
        return None
    if not (lake.exists(tables.EVENTS) and lake.exists(tables.DELIVERIES)):
        return None
    if lake.read(tables.EVENTS).limit(1).count() == 0:
        return None
    latest = lake.table(tables.DELIVERIES).history(1).first()
    return int(latest["version"]) if latest is not None else None


def prepare(lake: Warehouse, config: Config, existing: set[str], events_checkpoint: str) -> Resume:
    """Read what the tables hold and what Kafka holds; raise before anything is written."""
    written = read_written(lake)
    kafka = config.kafka
    plaintext = kafka.options.get("security.protocol", "PLAINTEXT").upper() == "PLAINTEXT"
    topics = subscribed(config, existing)
    logs = admin.topic_logs(kafka.bootstrap_servers, topics) if plaintext else {}
    known_ids = topic_ids(lake)
    check_log(written, logs, known_ids, kafka.fail_on_data_loss)
    return Resume(
        written,
        logs,
        known_ids,
        starting_offsets(kafka.starting_offsets, written.delivered, logs),
        events_starting_version(lake, events_checkpoint),
    )
