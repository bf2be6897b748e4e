"""Alerting costs: what ``publish`` adds to the collector, and one alerting pass.

    .venv/bin/python bench/alerting_bench.py [--features 20,200,1000] [--repeat 5]

For each number of features (one model, one critical PSI result per feature
per window): the collector-side cost of ``AlertingSink.publish`` per window,
and the time of ``Alerting.tick`` on SQLite for the first window (every alert
new), a later window (every alert updated) and a pass with nothing new. Prints
a markdown table of medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftd.alerting.service import Alerting
from driftd.config.alerting import AlertingSettings
from driftd.metrics import Metrics
from driftd.monitoring.results import WindowResult
from driftd.storage import ControlStore


def _results(features: int, window: int) -> list[WindowResult]:
    return [
        WindowResult("m", "v1", window, window * 60_000, (window + 1) * 60_000, 1000,
                     f"f{i}", "psi", 0.4, None, 0.4, "critical")
        for i in range(features)
    ]  # fmt: skip


def _once(features: int) -> tuple[float, float, float, float]:
    now = [1_800_000_000_000]
    settings = AlertingSettings(
        allow_private_targets=True,
        routes=[{"name": "r", "severities": ["critical"], "urls": ["json://127.0.0.1:9/"]}],
    )
    with tempfile.TemporaryDirectory() as tmp, ControlStore(f"sqlite:///{tmp}/c.db") as store:
        store.migrate()
        a = Alerting(settings, store, Metrics(), clock=lambda: now[0])
        first = _results(features, 1)
        t = time.perf_counter()
        a.sink.publish(first)
        publish = time.perf_counter() - t
        t = time.perf_counter()
        a.tick()
        new = time.perf_counter() - t
        now[0] += 60_000
        a.sink.publish(_results(features, 2))
        t = time.perf_counter()
        a.tick()
        update = time.perf_counter() - t
        t = time.perf_counter()
        a.tick()
        idle = time.perf_counter() - t
    return publish, new, update, idle


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--features", default="20,200,1000")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    print("| features | publish (µs/window) | tick: new alerts (ms) | tick: updates (ms) "
          "| tick: idle (ms) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in (int(x) for x in args.features.split(",")):
        runs = [_once(n) for _ in range(args.repeat)]
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        print(f"| {n} | {med[0] * 1e6:.1f} | {med[1] * 1e3:.1f} | {med[2] * 1e3:.1f} "
              f"| {med[3] * 1e3:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
