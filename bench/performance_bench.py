"""Outcome joining and performance queries on embedded storage (chDB), measured.

1. Join throughput: predictions stored, then outcomes arriving in batches of
   ``--batch`` the way the collector handles them — insert, then the
   performance monitor's hook (look the predictions up by request id through
   the bloom index, per-event errors into ADWIN, checkpoint) — in outcomes/s.
2. A model with ``--predictions`` predictions spread over 30 days (generated
   inside ClickHouse, all labelled): the time to recompute one hour window
   from the join (what the ticker does per touched window), a whole 30-day
   recompute extrapolated from it, and the API's 30-day query of the stored
   series (``GET /v1/models/{model}/performance``).
3. Verdicts: a stable labelled stream (accuracy 0.90, windows of 1,000) over
   ``--windows`` windows — false alarms of the window metric and of ADWIN.

    .venv/bin/python bench/performance_bench.py                      # the README's figures
    .venv/bin/python bench/performance_bench.py --predictions 1000000 --windows 100

Prints markdown tables on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.monitoring.perf_helpers import STEP_MS, T0, add_baseline, stream

from driftd.detectors.perf_verdict import PerformancePolicy
from driftd.events import Coordinates
from driftd.monitoring import StorageSink
from driftd.monitoring.performance import (
    DAY_MS,
    ERROR_CHANGE,
    PerformanceMonitor,
    PerformancePlan,
)
from driftd.storage import EventStore, InMemoryControlStore
from driftd.storage.migrations import _OUTCOMES_LATEST_BACKFILL, render

HOUR_MS = 3_600_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def join_throughput(store: EventStore, n: int, batch: int) -> tuple[float, float]:
    """(outcomes/s with the hook, outcomes/s for the insert alone)."""
    predictions, outcomes = stream(n, 0.9)
    for i in range(0, n, 10_000):
        store.insert_predictions(predictions[i : i + 10_000])
    control = InMemoryControlStore()
    control.migrate()
    monitor = PerformanceMonitor(store, control, [], PerformancePlan())
    outcomes = [replace(o, source=Coordinates("o", 0, j)) for j, o in enumerate(outcomes)]
    started = time.perf_counter()
    inserting = 0.0
    for i in range(0, n, batch):
        part = outcomes[i : i + batch]
        t = time.perf_counter()
        store.insert_outcomes(part, dedup_token=f"bench-o-{i}")
        inserting += time.perf_counter() - t
        monitor.observe_outcomes(part)
    total = time.perf_counter() - started
    return n / total, n / inserting


def big_model(store: EventStore, n: int, now_ms: int) -> None:
    """``n`` labelled predictions over the 30 days before ``now_ms``, generated in ClickHouse."""
    db = store.database
    step = 30 * DAY_MS // n
    start = now_ms - 30 * DAY_MS
    at = f"fromUnixTimestamp64Milli(toInt64({start} + number * {step}))"
    store.client.command(
        f"INSERT INTO {db}.predictions (event_id, model, timestamp, received_at, request_id, "
        "pred_num, pred_label, pred_proba, segments) "
        f"SELECT toString(number), 'big', {at}, {at}, concat('r', toString(number)), "
        "NULL, if(number % 2 = 0, 'yes', 'no'), map('yes', if(number % 2 = 0, 0.8, 0.2), "
        "'no', if(number % 2 = 0, 0.2, 0.8)), "
        "map('region', if(number % 3 = 0, 'us', 'eu')) "
        f"FROM numbers({n})",
        settings={"max_insert_block_size": 1_000_000},
    )
    store.client.command(
        f"INSERT INTO {db}.outcomes (event_id, model, request_id, timestamp, received_at, "
        "outcome_num, outcome_label) "
        f"SELECT concat('o', toString(number)), 'big', concat('r', toString(number)), "
        f"fromUnixTimestamp64Milli(toInt64({start} + number * {step} + 3600000)), "
        f"fromUnixTimestamp64Milli(toInt64({start} + number * {step} + 3600000)), NULL, "
        "if(number % 10 = 0, if(number % 2 = 0, 'no', 'yes'), if(number % 2 = 0, 'yes', 'no')) "
        f"FROM numbers({n})",
        settings={"max_insert_block_size": 1_000_000},
    )
    # the store writes the join table itself (migration 5): copy them over
    store.client.command(render(_OUTCOMES_LATEST_BACKFILL, db=db, ttl_days=30))


def query_times(store: EventStore, now_ms: int) -> tuple[float, int, float, float]:
    """(seconds to recompute one hour window, its rows, 30-day recompute extrapolated,
    seconds for the stored 30-day series)."""
    control = InMemoryControlStore()
    control.migrate()
    plan = PerformancePlan(window_ms=HOUR_MS, segment_keys=("region",))
    monitor = PerformanceMonitor(store, control, [StorageSink(store)], plan, lambda: now_ms / 1000)
    start = (now_ms - 15 * DAY_MS) // HOUR_MS * HOUR_MS
    t = time.perf_counter()
    rows = store.read_labelled("big", start, start + HOUR_MS, plan.horizon_ms)
    from driftd.monitoring.perf_windows import WindowSpec, window_results

    spec = WindowSpec("big", "", {}, PerformancePolicy(), HOUR_MS)
    results = window_results(spec, start, rows)
    one = time.perf_counter() - t
    # store 30 days of results as the ticker would, then time the API's query
    for w in range(30 * 24):
        s = (now_ms - 30 * DAY_MS) // HOUR_MS * HOUR_MS + w * HOUR_MS
        monitor.sinks[0].publish([replace(r, window_id=s // HOUR_MS, window_start_ms=s,
                                          window_end_ms=s + HOUR_MS) for r in results])  # fmt: skip
    t = time.perf_counter()
    series = store.query_drift("big", now_ms - 30 * DAY_MS, now_ms + HOUR_MS, "__outcome__", None)
    api = time.perf_counter() - t
    assert len(series) >= 30 * 24
    return one, len(rows), one * 30 * 24, api


def false_alarms(store: EventStore, windows: int) -> tuple[int, int, float]:
    """(window-metric alarms, ADWIN changes, seconds) on a stable stream."""
    control = InMemoryControlStore()
    store.migrate()
    control.migrate()
    add_baseline(store, control, accuracy=0.90)
    n = windows * 1_000
    collect: list = []

    class Sink:
        def publish(self, results: list) -> None:  # type: ignore[type-arg]
            collect.extend(results)

    plan = PerformancePlan(window_ms=1_000 * STEP_MS, policy=PerformancePolicy(min_labelled=500))
    t = time.perf_counter()
    monitor = PerformanceMonitor(store, control, [Sink()], plan, lambda: (T0 + n * STEP_MS) / 1000)
    for start in range(0, n, 50_000):
        predictions, outcomes = stream(min(50_000, n - start), 0.9, seed=start)
        predictions = [replace(p, event_id=f"p{start + i}", request_id=f"r{start + i}",
                               timestamp_ms=p.timestamp_ms + start * STEP_MS,
                               received_ms=p.received_ms + start * STEP_MS)
                       for i, p in enumerate(predictions)]  # fmt: skip
        outcomes = [replace(o, event_id=f"o{start + i}", request_id=f"r{start + i}")
                    for i, o in enumerate(outcomes)]  # fmt: skip
        for i in range(0, len(outcomes), 10_000):
            store.insert_predictions(predictions[i : i + 10_000])
        for i in range(0, len(outcomes), 10_000):
            store.insert_outcomes(outcomes[i : i + 10_000])
            monitor.observe_outcomes(outcomes[i : i + 10_000])
        log(f"  stable stream: {start + len(outcomes)} labelled")
    monitor.recompute()
    seconds = time.perf_counter() - t
    windows_flagged = sum(1 for r in collect if r.metric == "accuracy" and r.is_problem)
    changes = sum(1 for r in collect if r.metric == ERROR_CHANGE)
    return windows_flagged, changes, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--join", type=int, default=200_000, help="outcomes joined")
    parser.add_argument("--batch", type=int, default=10_000, help="outcomes per batch")
    parser.add_argument("--predictions", type=int, default=10_000_000)
    parser.add_argument("--windows", type=int, default=500, help="stable windows of 1,000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.connect(f"chdb://{tmp}/ch", database="bench")
        store.migrate()
        log(f"join: {args.join} outcomes in batches of {args.batch}")
        with_hook, insert_only = join_throughput(store, args.join, args.batch)
        now_ms = int(time.time() * 1000)
        log(f"generating {args.predictions} labelled predictions over 30 days")
        t = time.perf_counter()
        big_model(store, args.predictions, now_ms)
        generated = time.perf_counter() - t
        one, rows, month, api = query_times(store, now_ms)
        store.close()
        log(f"stable stream over {args.windows} windows")
        stable = EventStore.connect(f"chdb://{tmp}/ch", database="stable")
        flagged, changes, seconds = false_alarms(stable, args.windows)
        stable.close()
    print("| measure | value |\n| --- | ---: |")
    print(
        f"| outcomes joined per second (insert + lookup + ADWIN + checkpoint) | {with_hook:,.0f} |"
    )
    print(f"| outcomes inserted per second (insert alone) | {insert_only:,.0f} |")
    print(f"| {args.predictions:,} labelled predictions generated, s | {generated:.1f} |")
    print(f"| recompute one hour window ({rows:,} predictions, join + metrics), s | {one:.2f} |")
    print(f"| recompute all 720 hour windows of 30 days (extrapolated), s | {month:.0f} |")
    print(f"| API query: 30 days of stored performance series, s | {api:.3f} |")
    print(
        f"| stable stream, {args.windows} windows of 1,000: accuracy windows flagged | {flagged} |"
    )
    print(f"| stable stream: ADWIN changes on the error stream | {changes} |")
    print(f"| stable stream: seconds (chDB) | {seconds:.0f} |")


if __name__ == "__main__":
    main()
