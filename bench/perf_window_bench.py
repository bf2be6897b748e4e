"""One performance window recomputed on chDB: every prediction read as an object
(``read_labelled``, before) against the labelled ones only plus counts
(``read_window``, now), interleaved.

A model with ``--predictions`` predictions in one hour window (generated inside
ClickHouse, ``region`` segments), a fraction ``--labelled`` of them labelled.
Per way: median process CPU seconds and wall seconds over ``--repeats`` runs,
and the peak Python heap (tracemalloc) of one more run.

    .venv/bin/python bench/perf_window_bench.py --predictions 1000000 --labelled 0

Prints a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.monitoring.test_perf_counts import _oracle

from driftd.monitoring.performance import PerformanceMonitor, PerformancePlan
from driftd.storage import EventStore, InMemoryControlStore
from driftd.storage.migrations import _OUTCOMES_LATEST_BACKFILL, render

HOUR_MS = 3_600_000
START = 1_800_000_000_000 // HOUR_MS * HOUR_MS


def fill(store: EventStore, n: int, labelled: float) -> None:
    db = store.database
    at = f"fromUnixTimestamp64Milli(toInt64({START} + intDiv(number * {HOUR_MS}, {n})))"
    store.client.command(
        f"INSERT INTO {db}.predictions (event_id, model, timestamp, received_at, request_id, "
        "pred_num, pred_label, pred_proba, segments) "
        f"SELECT toString(number), 'm', {at}, {at}, concat('r', toString(number)), "
        "NULL, if(number % 2 = 0, 'yes', 'no'), map('yes', if(number % 2 = 0, 0.8, 0.2), "
        "'no', if(number % 2 = 0, 0.2, 0.8)), "
        "map('region', toString(number % 7)) "
        f"FROM numbers({n})",
        settings={"max_insert_block_size": 1_000_000},
    )
    every = 0 if labelled <= 0 else max(1, round(1 / labelled))
    if every:
        store.client.command(
            f"INSERT INTO {db}.outcomes (event_id, model, request_id, timestamp, received_at, "
            "outcome_num, outcome_label) "
            f"SELECT concat('o', toString(number)), 'm', concat('r', toString(number)), {at}, "
            f"{at}, NULL, if(number % 3 = 0, 'no', 'yes') "
            f"FROM numbers({n}) WHERE number % {every} = 0",
            settings={"max_insert_block_size": 1_000_000},
        )
        # the store writes the join table itself (migration 5): copy them over
        store.client.command(render(_OUTCOMES_LATEST_BACKFILL, db=db, ttl_days=30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--labelled", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.connect(f"chdb://{tmp}/db", database="bench")
        store.migrate()
        fill(store, args.predictions, args.labelled)
        plan = PerformancePlan(window_ms=HOUR_MS, segment_keys=("region",), resamples=50)
        now = START + 2 * HOUR_MS

        def before() -> int:
            return len(_oracle(store, plan, [START], ("", {})))

        def now_way() -> int:
            control = InMemoryControlStore()
            control.migrate()
            return len(PerformanceMonitor(store, control, [], plan, lambda: now / 1000)
                       ._recompute("m", now))  # fmt: skip

        ways: dict[str, Callable[[], int]] = {"before": before, "now": now_way}
        cpu: dict[str, list[float]] = {k: [] for k in ways}
        wall: dict[str, list[float]] = {k: [] for k in ways}
        results = {}
        for _ in range(args.repeats):
            for name, way in ways.items():
                c, w = time.process_time(), time.perf_counter()
                results[name] = way()
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - w)
        peak = {}
        for name, way in ways.items():
            tracemalloc.start()
            way()
            peak[name] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        store.close()
    print(f"predictions {args.predictions:,}, labelled {args.labelled:.0%}\n")
    print("| way | results | CPU s (median) | wall s (median) | peak Python heap MB |")
    print("|---|---:|---:|---:|---:|")
    for name in ways:
        print(
            f"| {name} | {results[name]} | {statistics.median(cpu[name]):.2f} "
            f"| {statistics.median(wall[name]):.2f} | {peak[name]:.2f} |"
        )


if __name__ == "__main__":
    main()
