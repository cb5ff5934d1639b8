"""What EMR Serverless would run, run: the job bundle on a Spark standalone cluster.

A master and two workers, each its own JVM (`kafka-dedup cluster start`), run the
StartJobRun requests `kafka-dedup aws submit` builds, bundle and all, fetched from S3 (a moto
server): available-now ingestion of the simulator's main phase, an interval run stopped by
SIGTERM for the late phase, and the nightly reconcile with its payments source on S3. The
tables, read back from S3, must equal the simulator's manifest.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from kafka_dedup import cluster, tables
from kafka_dedup import config as config_mod
from kafka_dedup.aws import jobrun, rehearsal, workflow
from kafka_dedup.config import Config
from kafka_dedup.kafka import publish, simulator
from kafka_dedup.warehouse import Warehouse
from tests.aws_fixtures import (
    DUMMY_ENV,
    REGION,
    client,
    configure_s3a,
    delta_row_count,
    log_store_table,
    make_bucket,
    toml_value,
    with_s3,
    write_text,
)
from tests.integration.cluster_fixtures import finished_apps
from tests.integration.ingest_helpers import expected_events, expected_state, sent_records

EVENTS = 60
SEED = 20261202
DAY = "2026-11-25"  # the simulator's stream starts 2026-11-25 08:00 UTC and spans 6 hours
INTERVAL = "3 seconds"
EVENTS_LINE = re.compile(r"\[\s*events\] batch \d+: .* late (\d+),")
# Delta's S3DynamoDBLogStore jar is the runtime's own (delta-storage-s3-dynamodb) and not served
# by the package registry here: the rehearsal's single writer uses the single-driver log store,
# while the ingest lease still lives in the DynamoDB table.
SINGLE_WRITER = {"spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore"}

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
JOB_TIMEOUT_S = 1800  # one job run; a loaded 2-core machine needs minutes for each


def deployment_config(
    path: Path, endpoint: str, bundle_dir: Path, bootstrap: str, topic: str, bucket: str
) -> Path:
    """A user's config for a deployed stack: [aws] as the stack's outputs would fill it."""
    table = log_store_table(endpoint, "log-" + uuid.uuid4().hex[:8])
    aws = {
        "endpoint_url": endpoint, "region": REGION, "bundle_dir": str(bundle_dir),
        "application_id": "00rehearsal", "execution_role_arn": "arn:aws:iam::1:role/job",
        "artifacts_uri": f"s3://{bucket}-art/kafka-dedup", "logs_uri": f"s3://{bucket}-logs/emr",
        "warehouse": f"s3a://{bucket}/warehouse", "checkpoints": f"s3a://{bucket}/checkpoints",
    }  # fmt: skip
    lines = [
        "[spark]", "shuffle_partitions = 2", f"conf = {inline_table(SINGLE_WRITER)}", "",
        "[kafka]", f'bootstrap_servers = "{bootstrap}"', f'topics = ["{topic}"]', "",
        "[s3]", f'dynamodb_log_store_table = "{table}"', "",
        "[aws]", *(f"{k} = {toml_value(v)}" for k, v in aws.items()), "",
        "[[reconcile.sources]]", 'name = "payments"', 'format = "parquet"',
        f'path = "s3a://{bucket}/payments/"', 'event_id_column = "event_id"',
        'key_column = "order_id"', 'effect_id_column = "charge_id"',
        'effect_time_column = "charged_at"', 'expects_event_types = ["order.paid"]', "",
    ]  # fmt: skip
    return write_text(path, "\n".join(lines))


def inline_table(values: dict[str, str]) -> str:
    """A TOML inline table with quoted keys (Spark keys hold dots)."""
    return "{ " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items()) + " }"


def charges(stream: simulator.Stream, missing: str, doubled: str) -> list[tuple]:
    """One charge a minute after each order.paid event; one left out, one charged twice."""
    rows = []
    for event in stream.events:
        if event["event_type"] != "order.paid" or event["event_id"] == missing:
            continue
        at = datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
        copies = 2 if event["event_id"] == doubled else 1
        for copy in range(copies):
            rows.append((f"ch-{event['event_id']}-{copy}", event["event_id"], event["key"],
                         at + timedelta(minutes=1 + copy)))  # fmt: skip
    return rows


def test_emr_job_runs_on_a_standalone_cluster(
    spark_cluster: cluster.ClusterState,
    spark: SparkSession,
    base_config: Config,
    kafka_bootstrap: str,
    moto_endpoint: str,
    aws_bundle_dir: Path,
    tmp_path: Path,
) -> None:
    master = spark_cluster.master_url
    apps_before = len(finished_apps(spark_cluster))
    bucket = make_bucket(moto_endpoint, f"emr-{uuid.uuid4().hex[:8]}")
    make_bucket(moto_endpoint, f"{bucket}-art")
    make_bucket(moto_endpoint, f"{bucket}-logs")
    topic = f"orders-emr-{uuid.uuid4().hex[:6]}"
    publish.ensure_topic(kafka_bootstrap, topic, partitions=3)
    stream = simulator.generate(EVENTS, SEED)
    coordinates = publish.publish(stream, kafka_bootstrap, topic, (simulator.MAIN,))

    path = deployment_config(
        tmp_path / "prod.toml", moto_endpoint, aws_bundle_dir, kafka_bootstrap, topic, bucket
    )
    config = config_mod.load(path, environ={})
    where = workflow.target(config, workflow.RUN_NEEDS)
    bundle = workflow.package(config, where)  # built and uploaded as `aws submit` does
    runtime = rehearsal.prepare_runtime(tmp_path / "runtime", moto_endpoint, REGION)
    s3 = client("s3", moto_endpoint)
    # what the runtime's environment gives the job: AWS's endpoints (here the moto server)
    env = {**DUMMY_ENV, "AWS_ENDPOINT_URL": moto_endpoint}

    def request(job: str, date: str | None = None) -> dict:
        return jobrun.start_request(job, config, bundle, where, date, str(runtime.delta_dir))

    # 1. the scheduled ingestion: available-now, the main phase
    main = rehearsal.run(
        s3, request("ingest"), master, runtime, tmp_path / "ingest-1", env, timeout_s=JOB_TIMEOUT_S
    )
    assert main.exit_code == 0, main.stderr[-3000:]
    assert "ingest run" in main.stdout and "done" in main.stdout

    # read back through this test's own session, S3A on the same bucket
    reader = config_mod.apply(
        with_s3(base_config, moto_endpoint),
        {"storage": {"warehouse": where.warehouse, "database": f"emr_{bucket[4:]}"}},
        "the test",
    )
    configure_s3a(spark, reader)
    warehouse = Warehouse.of(reader, spark)
    main_records = sent_records(stream, (simulator.MAIN,))
    assert delta_row_count(moto_endpoint, bucket, "warehouse/deliveries") == len(main_records)
    events = Counter((r.key, r.event_id) for r in warehouse.read(tables.EVENTS).collect())
    assert set(events.values()) == {1}
    assert set(events) == expected_events(stream, include_late=False)
    state = {r.key: (r.event_id, r.sequence) for r in warehouse.read(tables.ENTITY_STATE).collect()}
    assert state == expected_state(stream, include_late=False)
    quarantined = Counter(
        ((r.topic, r.partition, r.offset), r.reason)
        for r in warehouse.read(tables.QUARANTINE).collect()
    )
    assert quarantined == Counter(
        (coordinates[i], r.reason)
        for i, r in enumerate(stream.records)
        if r.cls == simulator.MALFORMED
    )

    # 2. a continuous run (interval trigger) takes the late phase, then is stopped by SIGTERM
    coordinates.update(publish.publish(stream, kafka_bootstrap, topic, (simulator.LATE,)))
    late_records = sent_records(stream, (simulator.LATE,))
    folder = tmp_path / "ingest-2"

    def late_rows_counted() -> bool:
        # spark-submit merges its Python driver's stderr (the progress lines) into stdout
        output = "".join(
            (folder / name).read_text(errors="replace")
            for name in ("stdout", "stderr")
            if (folder / name).exists()
        )
        return sum(int(n) for n in EVENTS_LINE.findall(output)) >= len(late_records)

    streaming = request("ingest")
    streaming["jobDriver"]["sparkSubmit"]["entryPointArguments"] += ["--trigger", INTERVAL]
    late = rehearsal.run(
        s3, streaming, master, runtime, folder, env, late_rows_counted, JOB_TIMEOUT_S
    )  # fmt: skip
    assert late.exit_code == 0, late.stderr[-3000:]
    assert "stopped by signal" in late.stdout
    assert f"read {len(late_records)}," in late.stdout
    assert f"late {len(late_records)}, events inserted 0" in late.stdout
    deliveries = Counter(
        (r.topic, r.partition, r.offset) for r in warehouse.read(tables.DELIVERIES).collect()
    )
    assert set(deliveries.values()) == {1} and set(deliveries) == set(coordinates.values())

    # 3. the nightly reconcile, its payments source on S3: one charge missing, one doubled
    paid = [e["event_id"] for e in stream.events if e["event_type"] == "order.paid"]
    spark.createDataFrame(
        charges(stream, missing=paid[0], doubled=paid[1]),
        "charge_id string, event_id string, order_id string, charged_at timestamp",
    ).write.mode("overwrite").parquet(f"s3a://{bucket}/payments/")
    nightly = rehearsal.run(
        s3,
        request("reconcile", DAY),
        master,
        runtime,
        tmp_path / "rec",
        env,
        timeout_s=JOB_TIMEOUT_S,
    )
    assert nightly.exit_code == 3, nightly.stderr[-3000:]  # findings: the job run FAILS
    found = Counter(
        r.finding_type
        for r in warehouse.read(tables.RECONCILIATION_FINDINGS).collect()
        if str(r.run_date) == DAY
    )
    late_unique = simulator.summary(stream, SEED)["late_unique_events"]
    assert found == Counter({"MISSING": 1, "DUPLICATE": 1, "UNMERGED": late_unique})
    merged = Counter((r.key, r.event_id) for r in warehouse.read(tables.EVENTS).collect())
    assert set(merged.values()) == {1}
    assert set(merged) == expected_events(stream, include_late=True)
    state = {r.key: (r.event_id, r.sequence) for r in warehouse.read(tables.ENTITY_STATE).collect()}
    assert state == expected_state(stream, include_late=True)
    # the report went next to the tables on S3, not into the driver's working folder
    report_keys = s3.list_objects_v2(Bucket=bucket, Prefix=f"warehouse/_reports/{DAY}/")
    assert {Path(o["Key"]).name for o in report_keys.get("Contents", [])} >= {
        "report.html",
        "summary.json",
    }
    # each job ran as an application of the cluster (not in local mode on the driver)
    apps = finished_apps(spark_cluster)
    assert len(apps) == apps_before + 3
    assert {app["name"] for app in apps} == {"kafka-dedup"}
    for name, run in (("ingest", main), ("ingest --trigger", late), ("reconcile", nightly)):
        print(f"\nrehearsal job run {name}: exit {run.exit_code}, {run.seconds:.1f} s")
        print("\n".join(run.stdout.rstrip().splitlines()[-12:]))
