"""Steady-state benchmark (not a test): latency and memory of an interval-trigger ingest.

1. A fresh local broker and topic; `kafka-dedup ingest --trigger INTERVAL` starts as its own
   process (as a user runs it), `local[2]`, with JSON log lines on stderr.
2. Once its tables exist, records are produced at a steady rate (default 5,000/s for 10
   minutes) with a share of producer-retry duplicates (same bytes and timestamp again).
3. Every few seconds the ingest JVM's resident memory (RSS) and the load average are
   sampled; each events batch's state store memory and size come from ingest's own debug
   lines (StreamingQueryProgress.stateOperators).
4. After the last record, the bench waits until `events` holds every unique event, stops
   ingest with SIGTERM (graceful), and reads the `events` Delta log: each commit's
   timestamp and the Kafka timestamps of the rows its files added. Latency of a row = its
   commit's timestamp - its Kafka timestamp (CreateTime, set by the producer): the time from
   the send to the row being visible in `events`. Rows sent during the warm-up are left out.
5. File counts per table (live files in the Delta snapshot, Parquet files on disk, log
   files) at the start and at the end.

Writes bench/steady/results.json and results.md (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Producer

from kafka_dedup.config import duration_seconds
from kafka_dedup.kafka import broker, publish
from kafka_dedup.session import ROCKSDB_MAX_MEMORY_MB

HERE = Path(__file__).parent
REPO = HERE.parent.parent
TOPIC = "steady-orders"
DATABASE = "steady"
TABLES = ("deliveries", "quarantine", "events", "entity_state", "ingest_batches")
TICK_S = 0.05  # the producer sends rate * TICK_S records per tick
READY_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 300.0

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/machine.py
from machine import commit, machine  # noqa: E402


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- processes and memory


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"java")
    except OSError:
        return False


class Sampler(threading.Thread):
    """Every `every` seconds: the ingest JVM's and Python driver's RSS, and the load."""

    def __init__(self, pid: int, started: float, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.started, self.every = pid, started, every
        self.samples: list[dict[str, Any]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            pids = descendants(self.pid)
            jvm = sum(rss_mb(p) for p in pids if is_java(p))
            python = sum(rss_mb(p) for p in pids if not is_java(p))
            self.samples.append(
                {
                    "t_s": round(time.time() - self.started, 1),
                    "jvm_rss_mb": round(jvm),
                    "python_rss_mb": round(python),
                    "load_1m": load_average()[0],
                }
            )


# ---------------------------------------------------------------- producing


def envelope(key: str, event_id: str, sequence: int, now: float) -> bytes:
    event_time = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
    body = {
        "event_id": event_id,
        "event_type": "order.paid",
        "event_time": event_time.replace("+00:00", "Z"),
        "sequence": sequence,
        "producer_id": "steady-bench",
        "payload": {"amount": 42.5, "currency": "EUR"},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def produce(
    bootstrap: str,
    rate: int,
    seconds: float,
    keys: int,
    duplicates: float,
    alive: Any,
    counted_from: float,
) -> dict[str, Any]:
    """Send `rate` records a second for `seconds`; a share `duplicates` of them are a second
    copy of the record just sent (same bytes, same timestamp: a producer retry). Unique
    events sent at or after `counted_from` (epoch s) are counted apart: the timed ones."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4", "acks": "1"}
    )
    sent = unique = counted = 0
    sequences: dict[int, int] = {}
    started = time.time()
    ticks = 0
    retry_every = round(1 / duplicates) if duplicates > 0 else 0
    # Paced by the wall clock: each tick sends what the rate owes by then, so a producer that
    # fell behind catches up, and production stops after `seconds` whatever was sent (the
    # rate reached is reported).
    while time.time() - started < seconds:
        ticks += 1
        if ticks % 100 == 0 and not alive():
            raise RuntimeError("ingest exited while records were being produced")
        owed = int(rate * (time.time() - started)) - sent
        while owed > 0:
            now = time.time()
            entity = unique % keys
            sequences[entity] = sequences.get(entity, 0) + 1
            key = f"order-{entity:08d}"
            value = envelope(key, uuid.uuid4().hex, sequences[entity], now)
            stamp = int(now * 1000)
            producer.produce(TOPIC, value=value, key=key.encode(), timestamp=stamp)
            unique += 1
            sent += 1
            owed -= 1
            counted += stamp >= counted_from * 1000
            if retry_every and unique % retry_every == 0:
                producer.produce(TOPIC, value=value, key=key.encode(), timestamp=stamp)
                sent += 1
                owed -= 1
            if sent % 1000 == 0:
                producer.poll(0)
        producer.poll(0)
        pause = started + ticks * TICK_S - time.time()
        if pause > 0:
            time.sleep(pause)
    producer.flush(60)
    elapsed = time.time() - started
    return {
        "records_sent": sent,
        "unique_events": unique,
        "unique_events_timed": counted,
        "seconds": round(elapsed, 1),
        "records_per_s": round(sent / elapsed),
    }


# ---------------------------------------------------------------- Delta logs


def delta_log(table: Path) -> list[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
    """(version, commitInfo, add actions) of every JSON commit of a table."""
    commits = []
    for path in sorted((table / "_delta_log").glob("*.json")):
        info: dict[str, Any] = {}
        adds: list[dict[str, Any]] = []
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
            elif "add" in action:
                adds.append(action["add"])
        commits.append((int(path.stem), info, adds))
    return commits


def rows_in(table: Path) -> int:
    """Live rows of a table from its log's file statistics (adds minus removes)."""
    live: dict[str, int] = {}
    for path in sorted((table / "_delta_log").glob("*.json")):
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                stats = json.loads(action["add"].get("stats") or "{}")
                live[action["add"]["path"]] = int(stats.get("numRecords", 0))
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return sum(live.values())


def file_counts(warehouse: Path) -> dict[str, dict[str, int]]:
    """Per table: live data files (snapshot), Parquet files on disk, Delta log files."""
    counts = {}
    for name in TABLES:
        table = warehouse / name
        if not (table / "_delta_log").is_dir():
            continue
        live: set[str] = set()
        for _, _, adds in delta_log(table):
            live.update(add["path"] for add in adds)
        for path in sorted((table / "_delta_log").glob("*.json")):
            for line in path.read_text().splitlines():
                action = json.loads(line)
                if "remove" in action:
                    live.discard(action["remove"]["path"])
        counts[name] = {
            "live_files": len(live),
            "parquet_files_on_disk": sum(
                1
                for p in table.rglob("*.parquet")
                if "_delta_log" not in p.parts and not p.name.startswith(".")
            ),
            "log_files": sum(1 for _ in (table / "_delta_log").iterdir()),
        }
    return counts


def latencies(events: Path, since_ms: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Milliseconds from Kafka timestamp to the events commit that added the row, for rows
    sent at or after since_ms; and (send time ms, latency ms) of each such row."""
    values: list[int] = []
    timeline: list[tuple[int, int]] = []
    for _, info, adds in delta_log(events):
        committed = int(info.get("inCommitTimestamp") or info.get("timestamp") or 0)
        for add in adds:
            if not add.get("dataChange", True):
                continue  # compaction: the rows were visible before
            column = pq.read_table(events / add["path"], columns=["kafka_timestamp"]).column(0)
            # Spark may write INT96 (read as nanoseconds) or microseconds: milliseconds here
            millis = column.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
            for sent_ms in millis.to_pylist():
                if sent_ms >= since_ms:
                    values.append(committed - sent_ms)
                    timeline.append((sent_ms, committed - sent_ms))
    return values, timeline


def percentile(ordered: list[int], share: float, missing: int = 0) -> int | None:
    """Nearest-rank percentile of a sorted list, where `missing` more values are larger
    than any (rows never seen): None when the rank falls among those."""
    total = len(ordered) + missing
    if not total:
        return None
    rank = max(1, int(-(-share * total // 1)))
    return ordered[rank - 1] if rank <= len(ordered) else None


def seconds(millis: int | None) -> float | None:
    return None if millis is None else round(millis / 1000, 2)


# ---------------------------------------------------------------- ingest log


def state_lines(stderr: Path) -> list[dict[str, Any]]:
    """The ingest process's state-store debug lines (JSON log)."""
    found = []
    for line in stderr.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            body = json.loads(line)
        except ValueError:
            continue
        if "state_memory_bytes" in body:
            found.append(body)
    return found


def batch_lines(stderr: Path) -> list[dict[str, Any]]:
    found = []
    for line in stderr.read_text(errors="replace").splitlines():
        if line.startswith("{") and "] batch " in line and "state store" not in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


BATCH_SECONDS = re.compile(r"([0-9]+(?:\.[0-9]+)?) s$")
BATCH_ROWS = re.compile(r"batch \d+: (?:read|in) (\d+)")


def query_messages(batches: list[dict[str, Any]], query: str) -> list[str]:
    """The batch log messages of one query ("[    events] batch 3: ...")."""
    messages = (body.get("message", "") for body in batches)
    return [message for message in messages if message.lstrip("[ ").startswith(query)]


def batch_figures(batches: list[dict[str, Any]], query: str) -> dict[str, Any]:
    """Per-batch seconds and rows of one query, from its batch log lines."""
    seconds_list, rows_list = [], []
    for message in query_messages(batches, query):
        took, rows = BATCH_SECONDS.search(message), BATCH_ROWS.search(message)
        if took and rows:
            seconds_list.append(float(took[1]))
            rows_list.append(int(rows[1]))
    if not seconds_list:
        return {"batches": 0}
    ordered = sorted(seconds_list)
    return {
        "batches": len(ordered),
        "seconds_p50": ordered[len(ordered) // 2],
        "seconds_max": ordered[-1],
        "seconds_total": round(sum(ordered), 1),
        "rows_p50": sorted(rows_list)[len(rows_list) // 2],
        "rows_max": max(rows_list),
    }


# ---------------------------------------------------------------- run


def start_ingest(root: Path, bootstrap: str, trigger: str, stderr: Path) -> subprocess.Popen:
    config = root / "steady.toml"
    config.write_text(
        "[spark]\n"
        'master = "local[2]"\n'
        'conf = { "spark.ui.enabled" = "false" }\n'
        "[storage]\n"
        f'database = "{DATABASE}"\n'
    )
    command = [
        str(Path(sys.executable).parent / "kafka-dedup"),
        "--config",
        str(config),
        "--log-json",
        "-v",
        "ingest",
        "--bootstrap-servers",
        bootstrap,
        "--topics",
        TOPIC,
        "--warehouse",
        str(root / "warehouse"),
        "--checkpoints",
        str(root / "checkpoints"),
        "--trigger",
        trigger,
    ]
    return subprocess.Popen(
        command,
        stdout=(root / "ingest.out").open("w"),
        stderr=stderr.open("w"),
        cwd=root,
        start_new_session=True,
    )


def wait_for(predicate: Any, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None:
            raise RuntimeError(f"ingest exited ({process.returncode}) while waiting for {what}")
        if time.time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(1)


def wait_until(predicate: Any, timeout: float, process: subprocess.Popen) -> bool:
    """Like wait_for, but False on timeout or when ingest exited."""
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None or time.time() > deadline:
            return False
        time.sleep(1)
    return True


def stop_ingest(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def summarize_series(rows: list[dict[str, Any]], key: str, bucket_s: float) -> list[list[Any]]:
    """[start of bucket s, max of key] per bucket of bucket_s seconds."""
    buckets: dict[int, float] = {}
    for row in rows:
        slot = int(row["t_s"] // bucket_s)
        buckets[slot] = max(buckets.get(slot, 0), row[key])
    return [[int(slot * bucket_s), value] for slot, value in sorted(buckets.items())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=5000, help="records per second")
    parser.add_argument("--duration", default="10 minutes", help="how long to produce")
    parser.add_argument("--warmup", default="1 minute", help="sent before this: not counted")
    parser.add_argument("--trigger", default="5 seconds", help="ingest's interval trigger")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--keys", type=int, default=100_000, help="distinct entity keys")
    parser.add_argument("--duplicates", type=float, default=0.05, help="producer-retry share")
    parser.add_argument("--sample-every", type=float, default=5.0, help="memory sample, s")
    parser.add_argument("--drain-timeout", default="5 minutes")
    parser.add_argument("--target-p95-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the results files")
    parser.add_argument(
        "--analyze", type=Path, help="only (re)compute the results of a kept run's folder"
    )
    args = parser.parse_args()
    if args.analyze:
        analyze(args.analyze, json.loads((args.analyze / "raw.json").read_text()), args.out)
        return 0
    # a stopped bench still stops ingest and the broker (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    duration_s = duration_seconds(args.duration)
    warmup_s = duration_seconds(args.warmup)
    root = Path(tempfile.mkdtemp(prefix="kafka-dedup-steady-"))
    warehouse = root / "warehouse"
    stderr = root / "ingest.err"
    load_start = load_average()
    code = commit()  # the code that runs, whatever is committed meanwhile
    started_broker = broker.start(broker.free_port(), root / "broker")
    process: subprocess.Popen | None = None
    try:
        bootstrap = started_broker.bootstrap_servers
        publish.ensure_topic(bootstrap, TOPIC, partitions=args.partitions)
        process = start_ingest(root, bootstrap, args.trigger, stderr)
        print(f"ingest pid {process.pid}, trigger {args.trigger}; waiting for its queries ...")
        wait_for(
            lambda: all(
                (root / "checkpoints" / query / "metadata").is_file()
                for query in ("deliveries", "events")
            ),
            READY_TIMEOUT_S,
            "both queries to start",
            process,
        )
        files_start = file_counts(warehouse)
        started = time.time()
        sampler = Sampler(process.pid, started, args.sample_every)
        sampler.start()
        print(f"producing {args.rate} records/s for {duration_s:.0f} s ...", flush=True)
        produced = produce(
            bootstrap,
            args.rate,
            duration_s,
            args.keys,
            args.duplicates,
            alive=lambda: process.poll() is None,
            counted_from=started + warmup_s,
        )
        produced_until = time.time()
        print(f"produced {produced}; waiting for events to hold them all ...", flush=True)
        drained = wait_until(
            lambda: rows_in(warehouse / "events") >= produced["unique_events"],
            duration_seconds(args.drain_timeout),
            process,
        )
        drained_s = time.time() - produced_until
        sampler.done.set()
        sampler.join()
        exit_code = stop_ingest(process)
        raw = {
            "settings": {
                "rate_per_s": args.rate,
                "duration_s": duration_s,
                "warmup_s": warmup_s,
                "trigger": args.trigger,
                "partitions": args.partitions,
                "keys": args.keys,
                "duplicates": args.duplicates,
                "master": "local[2]",
                "rocksdb_max_memory_mb": int(ROCKSDB_MAX_MEMORY_MB),
                "target_p95_s": args.target_p95_s,
            },
            "commit": code,
            "started": started,
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "produced": produced,
            "drained": drained,
            "drain_seconds": round(drained_s, 1),
            "ingest_exit_code": exit_code,
            "memory_samples": sampler.samples,
            "file_counts_start": files_start,
            "file_counts_end": file_counts(warehouse),
        }
        (root / "raw.json").write_text(json.dumps(raw))  # for --analyze, should analysis fail
        analyze(root, raw, args.out)
        return 0
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        broker.stop(root / "broker")
        keep = os.environ.get("STEADY_KEEP")
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def analyze(root: Path, raw: dict[str, Any], out: Path) -> None:
    """Results from a run's folder (events log, ingest's log) and its raw figures."""
    warehouse, settings, produced = root / "warehouse", raw["settings"], raw["produced"]
    started = raw["started"]
    values, timeline = latencies(warehouse / "events", int((started + settings["warmup_s"]) * 1000))
    ordered = sorted(values)
    missing = max(0, produced["unique_events_timed"] - len(ordered))
    stderr = root / "ingest.err"
    state_over_time = [
        {
            "t_s": round(datetime.fromisoformat(s["time"]).timestamp() - started, 1),
            "memory_mb": round(s["state_memory_bytes"] / 2**20, 1),
            "sst_mb": round(int(s["state_metrics"].get("rocksdbSstFileSize", 0)) / 2**20, 1),
            "pinned_mb": round(
                int(s["state_metrics"].get("rocksdbPinnedBlocksMemoryUsage", 0)) / 2**20, 1
            ),
        }
        for s in state_lines(stderr)
        if s.get("state_query") == "events"
    ]
    events_rows = rows_in(warehouse / "events")
    # the dedup state as persisted (RocksDB changelogs and snapshots): with changelog
    # checkpointing the SST metric stays 0 until RocksDB flushes
    state_dir = root / "checkpoints" / "events" / "state"
    state_bytes = sum(p.stat().st_size for p in state_dir.rglob("*") if p.is_file())
    last_state = state_over_time[-1] if state_over_time else {"sst_mb": 0, "memory_mb": 0}
    per_minute: dict[int, list[int]] = {}
    for sent_ms, latency in timeline:
        per_minute.setdefault(int((sent_ms / 1000 - started) // 60), []).append(latency)
    batches = batch_lines(stderr)
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": raw["commit"],
        "hardware": machine(),
        "load_average_start": raw["load_average_start"],
        "load_average_end": raw["load_average_end"],
        "settings": settings,
        "produced": produced,
        "events_rows": events_rows,
        "drained": raw["drained"],
        "drain_seconds": raw["drain_seconds"],
        "ingest_exit_code": raw["ingest_exit_code"],
        "batches": {q: len(query_messages(batches, q)) for q in ("deliveries", "events")},
        "batch_figures": {q: batch_figures(batches, q) for q in ("deliveries", "events")},
        "latency_rows": len(ordered),
        "latency_rows_never_visible": missing,
        "latency_s": {
            "p50": seconds(percentile(ordered, 0.50, missing)),
            "p95": seconds(percentile(ordered, 0.95, missing)),
            "p99": seconds(percentile(ordered, 0.99, missing)),
            "max": seconds(ordered[-1] if ordered and not missing else None),
            "mean": round(sum(ordered) / max(1, len(ordered)) / 1000, 2),
        },
        "latency_per_minute_s": [
            {
                "minute": minute,
                "rows": len(rows),
                "p50": seconds(percentile(sorted(rows), 0.5)),
                "p95": seconds(percentile(sorted(rows), 0.95)),
            }
            for minute, rows in sorted(per_minute.items())
        ],
        "memory_samples": raw["memory_samples"],
        "jvm_rss_mb_per_minute_max": summarize_series(raw["memory_samples"], "jvm_rss_mb", 60),
        "state_store": state_over_time,
        "state_store_last": last_state,
        "state_keys": events_rows,  # every event is within the 1-hour watermark
        "state_sst_mb_per_million_keys": round(last_state["sst_mb"] / max(events_rows, 1) * 1e6, 1),
        "state_checkpoint_mb": round(state_bytes / 2**20, 1),
        "state_checkpoint_mb_per_million_keys": round(
            state_bytes / 2**20 / max(events_rows, 1) * 1e6, 1
        ),
        "file_counts_start": raw["file_counts_start"],
        "file_counts_end": raw["file_counts_end"],
        "target_p95_s": settings["target_p95_s"],
    }
    p95 = results["latency_s"]["p95"]
    results["target_p95_met"] = p95 is not None and p95 <= settings["target_p95_s"]
    out.mkdir(parents=True, exist_ok=True)
    write_results(results, out)
    print((out / "results.md").read_text())


def write_results(results: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    hw, st, lat, prod = (
        results["hardware"],
        results["settings"],
        results["latency_s"],
        results["produced"],
    )
    rss = [s["jvm_rss_mb"] for s in results["memory_samples"]] or [0]
    state_mem = [s["memory_mb"] for s in results["state_store"]] or [0]
    pinned = [s["pinned_mb"] for s in results["state_store"]] or [0]
    loads = [s["load_1m"] for s in results["memory_samples"]] or [0]
    verdict = "met" if results["target_p95_met"] else "not met"
    lines = [
        "# Steady-state benchmark",
        "",
        f"Run {results['when']} at commit {results['commit']} on {hw['cpu']}, {hw['cores']} "
        f"cores, {hw['memory_gib']} GiB, Python {hw['python']}, Spark {hw['spark']}, Delta "
        f"{hw['delta']}, `{st['master']}`; load average {results['load_average_start']} at the "
        f"start, {results['load_average_end']} at the end.",
        "",
        f"`kafka-dedup ingest --trigger '{st['trigger']}'` as its own process; "
        f"{prod['records_sent']} records sent in {prod['seconds']} s ({prod['records_per_s']} "
        f"records/s; asked {st['rate_per_s']}), {prod['unique_events']} unique events over "
        f"{st['keys']} keys and {st['partitions']} partitions, producer-retry share "
        f"{st['duplicates']}; the first {st['warmup_s']:.0f} s not counted. `events` held "
        f"{results['events_rows']} rows {results['drain_seconds']} s after the last send "
        f"({'all of them' if results['drained'] else 'not all: the wait timed out'}); "
        f"ingest exited {results['ingest_exit_code']} on SIGTERM after "
        f"{results['batches']['deliveries']} deliveries and {results['batches']['events']} "
        "events batches.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| rows timed (Kafka timestamp -> `events` commit) | {results['latency_rows']} |",
        f"| timed rows not in `events` when ingest was stopped | "
        f"{results['latency_rows_never_visible']} |",
        f"| latency p50 / p95 / p99 (none: the rank falls among rows never seen) | "
        f"{lat['p50']} s / {lat['p95']} s / {lat['p99']} s |",
        f"| latency mean / max | {lat['mean']} s / {lat['max']} s |",
        f"| p95 target <= {results['target_p95_s']} s | {verdict} |",
        f"| 1-minute load average during the run min / max | {min(loads)} / {max(loads)} |",
        f"| ingest JVM RSS min / max / last | {min(rss)} / {max(rss)} / {rss[-1]} MB |",
        f"| RocksDB memory bound (maxMemoryUsageMB) | {st['rocksdb_max_memory_mb']} MB |",
        f"| state store memory min / max / last | {min(state_mem)} / {max(state_mem)} / "
        f"{state_mem[-1]} MB |",
        f"| state on disk (SST) at the end, {results['state_keys']} keys | "
        f"{results['state_store_last']['sst_mb']} MB |",
        f"| state on disk per million keys | {results['state_sst_mb_per_million_keys']} MB |",
        f"| state checkpoint (changelogs, snapshots) at the end | "
        f"{results['state_checkpoint_mb']} MB, "
        f"{results['state_checkpoint_mb_per_million_keys']} MB per million keys |",
        f"| RocksDB pinned blocks min / max / last | {min(pinned)} / {max(pinned)} / "
        f"{pinned[-1]} MB |",
        f"| state store lines (events batches that ran) | {len(results['state_store'])} |",
        "",
        "Micro-batches as ingest logged them (a row waits for its deliveries batch, then for "
        "the events batch that reads it):",
        "",
        "| query | batches | seconds p50 / max / total | rows in p50 / max |",
        "| --- | ---: | --- | --- |",
        *(
            f"| {query} | {b['batches']} | {b.get('seconds_p50')} / {b.get('seconds_max')} / "
            f"{b.get('seconds_total')} | {b.get('rows_p50')} / {b.get('rows_max')} |"
            for query, b in results["batch_figures"].items()
        ),
        "",
        "Latency by minute of sending, and the ingest JVM's largest RSS that minute:",
        "",
        "| minute | rows | p50 s | p95 s | JVM RSS MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    rss_by_minute = dict((m // 60, v) for m, v in results["jvm_rss_mb_per_minute_max"])
    for row in results["latency_per_minute_s"]:
        lines.append(
            f"| {row['minute']} | {row['rows']} | {row['p50']} | {row['p95']} | "
            f"{rss_by_minute.get(row['minute'], '')} |"
        )
    lines += [
        "",
        "Files per table (live in the snapshot / Parquet on disk / log files):",
        "",
        "| table | at the start | at the end |",
        "| --- | --- | --- |",
    ]
    for name in TABLES:
        start = results["file_counts_start"].get(name)
        end = results["file_counts_end"].get(name)

        def fmt(c: dict[str, int] | None) -> str:
            if c is None:
                return "-"
            return f"{c['live_files']} / {c['parquet_files_on_disk']} / {c['log_files']}"

        lines.append(f"| {name} | {fmt(start)} | {fmt(end)} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
