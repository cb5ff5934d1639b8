"""Mapping benchmark (not a test): what reading a topic through [[ingest.mappings]] costs.

The same seeded stream (10% producer-retry duplicates) goes to three topics: one in the JSON
envelope, one in the simulator's legacy shape (id in $.meta.id, epoch-millis time, key in a
header), and the legacy shape again as Avro in the Confluent wire format (schema in a local
schema registry this script starts). Each is read with the `deliveries` write alone (Kafka
-> the ingest's parsed_batch in a foreachBatch -> Delta append, available-now): the envelope
with no mapping (today's parser), the legacy topic through its mapping, the legacy topic
again with event_id as a content hash of four fields, and the Avro topic through the same
mapping with format = "avro" (schema ids collected per batch, records decoded by from_avro).
Every variant runs once on a small warm-up topic first (not recorded: the JIT), then
--rounds times in turn (one run of each variant per round); a run takes a few seconds and
varies by up to a third, so the figures are each variant's median.

Writes bench/ingest/results-mapping.json and results-mapping.md: date, commit, machine and
the load average before and after, so a reader can tell a busy machine's figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from pyspark.sql import DataFrame, SparkSession

from kafka_dedup import config as config_mod
from kafka_dedup import log
from kafka_dedup.config import Config
from kafka_dedup.config.mapping import TopicMapping
from kafka_dedup.ingest import avro, batches
from kafka_dedup.ingest.schemas import SchemaRegistry
from kafka_dedup.kafka import broker, legacy, publish, registry, simulator
from kafka_dedup.kafka.truth import Stream
from kafka_dedup.session import build_session

HERE = Path(__file__).parent
WARMUP_EVENTS = 20_000
# the legacy mapping with event_id as a content hash instead of $.meta.id
HASHED = legacy.MAPPING.replace(
    'event_id = "$.meta.id"',
    'event_id = "hash($.type, $.meta.version, $.data.amount, $.data.currency)"',
)

AVRO_MAPPING = legacy.MAPPING + 'format = "avro"\n'
# the legacy shape as an Avro record (every field the simulator may leave out is nullable)
LEGACY_SCHEMA = {
    "type": "record",
    "name": "Return",
    "namespace": "kd.bench",
    "fields": [
        {
            "name": "meta",
            "type": {
                "type": "record",
                "name": "Meta",
                "fields": [
                    {"name": "id", "type": ["null", "string"], "default": None},
                    {"name": "ts", "type": ["null", "long"], "default": None},
                    {"name": "version", "type": ["null", "long"], "default": None},
                    {"name": "source", "type": ["null", "string"], "default": None},
                ],
            },
        },
        {"name": "type", "type": ["null", "string"], "default": None},
        {
            "name": "data",
            "type": {
                "type": "record",
                "name": "Data",
                "fields": [
                    {"name": "amount", "type": ["null", "double"], "default": None},
                    {"name": "currency", "type": ["null", "string"], "default": None},
                ],
            },
        },
    ],
}

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402


def _mappings(toml: str) -> tuple[TopicMapping, ...]:
    loaded = config_mod.apply(config_mod.DEFAULTS, config_mod.tomllib.loads(toml), "bench")
    return loaded.ingest.mappings


def as_avro(stream: Stream, schema_id: int) -> Stream:
    """The legacy-shape stream with each JSON value written as Avro in the wire format."""
    parsed = fastavro.parse_schema(LEGACY_SCHEMA)
    header = b"\0" + schema_id.to_bytes(4, "big")

    def encode(value: bytes | None) -> bytes | None:
        if value is None:
            return None
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, json.loads(value))
        return header + out.getvalue()

    return Stream([dataclasses.replace(r, value=encode(r.value)) for r in stream.records],
                  stream.events, stream.start)  # fmt: skip


def deliveries_write(
    spark: SparkSession,
    config: Config,
    root: Path,
    topic: str,
    mappings: tuple[TopicMapping, ...],
    schemas: SchemaRegistry | None,
) -> tuple[float, int]:
    """Kafka -> parsed_batch -> Delta append, available-now; (seconds, malformed rows)."""
    target = root / topic
    skew = config.ingest.max_future_skew

    def write(batch_df: DataFrame, batch_id: int) -> None:
        with batches.parsed_batch(batch_df, skew, mappings, schemas) as parsed_df:
            parsed_df.write.format("delta").mode("append").save(str(target))

    started = time.monotonic()
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", config.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("includeHeaders", "true")
        .load()
        .writeStream.option("checkpointLocation", str(root / f"{topic}-checkpoint"))
        .trigger(availableNow=True)
        .foreachBatch(write)
        .start()
    )
    query.awaitTermination()
    seconds = time.monotonic() - started
    malformed = spark.read.format("delta").load(str(target)).where("parse_error is not null")
    return seconds, malformed.count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each variant")
    args = parser.parse_args()
    assert HASHED != legacy.MAPPING, "the event_id line of legacy.MAPPING changed"
    log.setup()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="kafka-dedup-bench-mapping-"))
    started_broker = broker.start(broker.free_port(), root / "broker")
    bootstrap = started_broker.bootstrap_servers
    try:
        registry_url = registry.start(registry.free_port(), root / "registry").url
        schema_id = SchemaRegistryClient({"url": registry_url}).register_schema(
            "bench-legacy-value", Schema(json.dumps(LEGACY_SCHEMA), "AVRO")
        )
        base = config_mod.load(environ={})
        config = dataclasses.replace(
            base,
            spark=dataclasses.replace(base.spark, master="local[2]", conf={"spark.ui.enabled": "false"}),
            kafka=dataclasses.replace(base.kafka, bootstrap_servers=bootstrap),
        )  # fmt: skip
        mix = simulator.Mix(producer_retry=0.10, app_resend=0, out_of_order=0, replay=0,
                            malformed=0, late_duplicate=0, late_unique=0)  # fmt: skip
        streams = {
            "envelope": simulator.generate(args.events, seed=1, mix=mix),
            "legacy": legacy.reshape(simulator.generate(args.events, seed=1, mix=mix)),
            "warmup-envelope": simulator.generate(WARMUP_EVENTS, seed=2, mix=mix),
            "warmup-legacy": legacy.reshape(simulator.generate(WARMUP_EVENTS, seed=2, mix=mix)),
        }
        streams["avro"] = as_avro(streams["legacy"], schema_id)
        streams["warmup-avro"] = as_avro(streams["warmup-legacy"], schema_id)
        for topic, stream in streams.items():
            publish.ensure_topic(bootstrap, topic, partitions=3)
            publish.publish(stream, bootstrap, topic, (simulator.MAIN,))
        records = len(streams["envelope"].records)
        spark = build_session(config)
        variants = {
            "envelope, no mapping": ("envelope", "none"),
            "legacy shape, field paths + header": ("legacy", "paths"),
            "legacy shape, event_id = hash of 4 fields": ("legacy", "hash"),
            "legacy shape as Avro (wire format), field paths + header": ("avro", "avro"),
        }
        schemas = SchemaRegistry(registry_url, avro.spark_validator(spark))

        def run(name: str, topic: str, kind: str, label: str) -> float:
            toml = {"hash": HASHED, "avro": AVRO_MAPPING}.get(kind, legacy.MAPPING)
            mappings = () if kind == "none" else _mappings(toml.format(topic=topic))
            print(f"{name}: {topic} ({label}) ...", flush=True)
            seconds, malformed = deliveries_write(
                spark, config, root / f"{kind}-{topic}-{label}", topic, mappings,
                schemas if kind == "avro" else None,
            )  # fmt: skip
            assert malformed == 0, f"{name}: {malformed} malformed rows"
            return seconds

        for name, (shape, kind) in variants.items():
            run(name, "warmup-" + shape, kind, "warm-up")
        runs: dict[str, list[float]] = {name: [] for name in variants}
        for n in range(1, args.rounds + 1):
            for name, (shape, kind) in variants.items():
                runs[name].append(run(name, shape, kind, f"round {n} of {args.rounds}"))
        figures: dict[str, dict[str, Any]] = {}
        for name, seconds in runs.items():
            median = statistics.median(seconds)
            figures[name] = {
                "seconds": round(median, 1),
                "runs_seconds": [round(x, 1) for x in seconds],
                "events_per_s": round(records / median),
            }
        envelope_s = figures["envelope, no mapping"]["seconds"]
        results = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": commit(),
            "hardware": machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "records_per_topic": records,
            "unique_events": args.events,
            "warmup_events": WARMUP_EVENTS,
            "rounds": args.rounds,
            "deliveries_write": figures,
            "relative_to_envelope": {n: round(envelope_s / f["seconds"], 3) for n, f in figures.items()},
        }  # fmt: skip
        write_results(results)
        print(json.dumps(results, indent=2))
        return 0
    finally:
        registry.stop(root / "registry")
        broker.stop(root / "broker")
        shutil.rmtree(root, ignore_errors=True)


def write_results(results: dict) -> None:
    (HERE / "results-mapping.json").write_text(json.dumps(results, indent=2) + "\n")
    hw = results["hardware"]
    lines = [
        "# Mapping benchmark: the deliveries write, envelope vs mapped topics (JSON and Avro)",
        "",
        f"Run {results['when']} at commit {results['commit']} on {hw['cpu']}, {hw['cores']} cores, "
        f"{hw['memory_gib']} GiB, Python {hw['python']}, Spark {hw['spark']}, `local[2]`; load "
        f"average (1, 5, 15 min) {results['load_average_before']} before, "
        f"{results['load_average_after']} after; each variant ran once on a "
        f"{results['warmup_events']}-event warm-up topic first, then once in each of "
        f"{results['rounds']} rounds; figures are each variant's median run.",
        "",
        f"{results['records_per_topic']} records per topic ({results['unique_events']} unique + 10% "
        "producer retries), Kafka -> parsed_batch (foreachBatch) -> Delta append, available-now:",
        "",
        "| variant | events/s | seconds (median) | runs (s) | vs envelope |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, figure in results["deliveries_write"].items():
        lines.append(
            f"| {name} | {figure['events_per_s']} | {figure['seconds']} | "
            f"{', '.join(str(x) for x in figure['runs_seconds'])} | "
            f"{results['relative_to_envelope'][name]} |"
        )
    (HERE / "results-mapping.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
