"""Per-event cost downstream of validation: records in, or a PredictionBatch in.

Three stages, each on 10k-event batches of contract-shaped events (14 numeric
and 5 categorical features, a score, a segment tag, Kafka coordinates):

* insert predictions into chDB (``EventStore.insert_predictions``);
* binning + PSI of one batch (``Binner.count`` / ``count_batch`` + ``window_psi``);
* ``DriftMonitor.process`` with the default suite, ADWIN on the score and one
  feature, a segment key with three values, checkpoints in memory: windows of
  1,000 events (the default suite judges 4 windows, whole and per segment, per
  1,000 events: that judging is the same either way), and windows that never
  close (counting, stream detectors, slices, checkpoint).

``records`` runs the API every revision has (records in); ``batch`` the
columnar one where the tree has it. Run it on this tree, and on an older one
for "before" (same venv)::

    .venv/bin/python bench/columnar_bench.py
    git archive 0ed830d src | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/columnar_bench.py

Prints a markdown table: median µs per event over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import driftd
from driftd.baselines import create_baseline
from driftd.detectors import BaselineProfile, Binner, window_psi
from driftd.events import Coordinates, PredictionRecord
from driftd.monitoring import DriftMonitor
from driftd.monitoring.windows import WindowPlan
from driftd.storage.clickhouse import EventStore
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

try:
    from driftd.batch import PredictionBatch
except ImportError:  # an older tree: records only
    PredictionBatch = None  # type: ignore[assignment,misc]
COLUMNAR = PredictionBatch is not None and hasattr(Binner, "count_batch")

NUMERIC = [f"n{i}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(5)]
NOW = int(time.time() * 1000) - 3_600_000  # within the raw-event TTL
LABELS = np.array(["DE", "FR", "café", "IT", "ES", "PL"], dtype=object)


def training(n: int = 5_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = {name: rng.normal(i, 1 + i / 10, n) for i, name in enumerate(NUMERIC)}
    frame.update({name: rng.choice(LABELS[:4], n) for name in CATEGORICAL})
    frame["p"] = rng.random(n)
    return pd.DataFrame(frame)


def records(n: int, seed: int, start: int = 0) -> list[PredictionRecord]:
    rng = np.random.default_rng(seed)
    nums = rng.normal(0.2, 1.1, (n, len(NUMERIC))) + np.arange(len(NUMERIC))
    cats = rng.choice(LABELS, (n, len(CATEGORICAL)))
    scores = rng.random(n)
    regions = rng.choice(np.array(["eu", "us", "apac"], dtype=object), n)
    return [
        PredictionRecord(
            event_id=f"driftd.predictions/0/{start + i}", model="m", model_version="v1",
            timestamp_ms=NOW + start + i, received_ms=NOW + 500 + i,
            request_id=f"r{i}", num=dict(zip(NUMERIC, nums[i].tolist(), strict=True)),
            cat=dict(zip(CATEGORICAL, cats[i].tolist(), strict=True)), nulls=[],
            pred_num=float(scores[i]), pred_label="", pred_proba={},
            segments={"region": str(regions[i])}, latency_ms=12.5,
            source=Coordinates("driftd.predictions", 0, start + i),
        )
        for i in range(n)
    ]  # fmt: skip


def timed(fn: Callable[[], Any], events: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) / events * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per batch")
    parser.add_argument("--batches", type=int, default=3, help="batches per run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, k = args.events, args.batches
    batches = [records(n, seed=b + 1, start=b * n) for b in range(k)]
    columns = [PredictionBatch.from_records(r) for r in batches] if COLUMNAR else None
    rows: list[tuple[str, str, float]] = []

    def stage(name: str, run: Callable[[list[Any]], None]) -> None:
        rows.append((name, "records", timed(lambda: run(batches), n * k, args.repeat)))
        if columns is not None:
            rows.append((name, "batch", timed(lambda: run(columns), n * k, args.repeat)))

    store, control = InMemoryEventStore(), InMemoryControlStore()
    store.migrate()
    control.migrate()
    create_baseline(store, control, training(), "m", "v1", prediction="p")
    with tempfile.TemporaryDirectory() as root:
        chdb = EventStore.connect(f"chdb://{root}")
        chdb.migrate()
        token = iter(range(10**9))

        def insert(parts: list[Any]) -> None:
            for part in parts:
                chdb.insert_predictions(part, dedup_token=f"bench/{next(token)}")

        stage("insert predictions (chDB)", insert)
        chdb.close()

    binner = Binner(BaselineProfile.from_dict(json.loads(store.get_baseline("m").profile_json)))

    def binning(parts: list[Any]) -> None:
        count = binner.count if isinstance(parts[0], list) else binner.count_batch
        for part in parts:
            window_psi(binner.profile, count(part))

    stage("binning + PSI", binning)

    def monitoring(size: int) -> Callable[[list[Any]], None]:
        def run(parts: list[Any]) -> None:
            plan = WindowPlan(size, stream_features=("n0",), segment_keys=("region",))
            monitor = DriftMonitor(store, InMemoryControlStore(), plans={"m": plan})
            monitor.control.migrate()
            for part in parts:
                monitor.process(part)

        return run

    stage("monitor.process, windows of 1,000 (judging)", monitoring(1_000))
    stage("monitor.process, no window closes", monitoring(10**9))

    print(f"driftd at {driftd.__file__}; {k} batches of {n} events, median of {args.repeat}\n")
    print("| stage | input | µs/event |\n| --- | --- | ---: |")
    for name, kind, us in rows:
        print(f"| {name} | {kind} | {us:.2f} |")


if __name__ == "__main__":
    main()
