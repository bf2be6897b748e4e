"""Verdicts measured, not assumed: false alarms, detection delay, cost of judging.

Streams with known truth: 20 features (6 normal, 5 lognormal, 4 integer, 5
categorical with 3 to 50 categories) and a numeric score, a baseline of
50,000 rows, the default suite and policy (``WindowJudge()``), events counted
by the real :class:`~driftd.detectors.window.Binner` from prediction records.

    .venv/bin/python bench/verdict_bench.py                   # the tables in bench/README.md
    .venv/bin/python bench/verdict_bench.py --windows 200 --large-windows 20 --replicates 5

Prints markdown tables on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from driftd.detectors import Binner, profile_dataframe
from driftd.detectors.profiles import BaselineProfile
from driftd.detectors.thresholds import records_from_frame
from driftd.events import PredictionRecord
from driftd.monitoring.judge import WindowId, WindowJudge

NORMAL = [f"n{i}" for i in range(6)]
LOGNORMAL = [f"l{i}" for i in range(5)]
INTEGER = [f"i{i}" for i in range(4)]
CATEGORICAL = {"c0": 3, "c1": 5, "c2": 10, "c3": 20, "c4": 50}
Column = Callable[[np.random.Generator, int], np.ndarray]


def _shares(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1)
    return w / w.sum()


def generators() -> dict[str, Column]:
    cols: dict[str, Column] = {}
    for name in NORMAL:
        cols[name] = lambda rng, n: rng.normal(0, 1, n)
    for name in LOGNORMAL:
        cols[name] = lambda rng, n: rng.lognormal(0, 0.7, n)
    for j, name in enumerate(INTEGER):
        cols[name] = lambda rng, n, j=j: rng.integers(0, 5 + 10 * j, n).astype(float)
    for name, k in CATEGORICAL.items():
        cols[name] = lambda rng, n, k=k: rng.choice([f"v{i}" for i in range(k)], n, p=_shares(k))
    cols["score"] = lambda rng, n: rng.beta(2, 5, n)
    return cols


def baseline(seed: int = 0) -> BaselineProfile:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: make(rng, 50_000) for name, make in generators().items()})
    return profile_dataframe(frame, "bench", "v1", prediction="score")


def records(
    profile: BaselineProfile,
    rng: np.random.Generator,
    n: int,
    overrides: dict[str, Column] | None = None,
) -> list[PredictionRecord]:
    """``n`` live events as the collector would record them (``overrides`` drift columns)."""
    cols = generators() | (overrides or {})
    frame = pd.DataFrame({name: make(rng, n) for name, make in cols.items()})
    return records_from_frame(frame, profile)


def false_alarms(profile: BaselineProfile, size: int, windows: int, seed: int) -> dict[str, Any]:
    judge, binner = WindowJudge(), Binner(profile)
    rng = np.random.default_rng(seed)
    warn = crit = 0
    per_metric: dict[str, int] = {}
    for w in range(windows):
        results = judge.judge(
            profile, binner.count(records(profile, rng, size)), WindowId("bench", "v1", w)
        )
        severities = {r.severity for r in results}
        warn += bool(severities & {"warning", "critical"})
        crit += "critical" in severities
        for r in results:
            if r.is_problem:
                per_metric[r.metric] = per_metric.get(r.metric, 0) + 1
        if (w + 1) % 100 == 0:
            print(f"  size {size}: {w + 1}/{windows} windows", file=sys.stderr)
    return {"size": size, "windows": windows, "warning": warn, "critical": crit,
            "by_metric": per_metric}  # fmt: skip


def _shift(mean: float = 0.0, scale: float = 1.0) -> Column:
    return lambda rng, n: rng.normal(mean, scale, n)


def _category_plus_ten(rng: np.random.Generator, n: int) -> np.ndarray:
    p = _shares(5).copy()
    p[1] += 0.10
    p[0] -= 0.10
    return rng.choice([f"v{i}" for i in range(5)], n, p=p)


def _new_category(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.choice([f"v{i}" for i in range(5)], n, p=_shares(5)).astype(object)
    values[rng.random(n) < 0.05] = "brand-new"
    return values


def _missing(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.normal(0, 1, n)
    values[rng.random(n) < 0.20] = np.nan
    return values


def _type_change(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{v:.2f}" for v in rng.normal(0, 1, n)], dtype=object)


DRIFTS: dict[str, tuple[str, Column, int]] = {
    # name: (feature, generator, target windows)
    "mean +0.25 sigma": ("n0", _shift(0.25), 3),
    "mean +0.5 sigma": ("n0", _shift(0.5), 1),
    "mean +1 sigma": ("n0", _shift(1.0), 3),
    "variance x1.5": ("n0", _shift(scale=1.5**0.5), 3),
    "category share +10 points": ("c1", _category_plus_ten, 3),
    "new category at 5%": ("c1", _new_category, 1),
    "missing 0 -> 20%": ("n0", _missing, 3),
    "feature changes type": ("n0", _type_change, 3),
}


def delays(profile: BaselineProfile, replicates: int, horizon: int = 5) -> list[dict[str, Any]]:
    judge, binner = WindowJudge(), Binner(profile)
    rows = []
    for name, (feature, make, target) in DRIFTS.items():
        found: list[int | None] = []
        others = 0
        for rep in range(replicates):
            rng = np.random.default_rng(1_000 + rep)
            first = None
            for w in range(horizon):
                results = judge.judge(
                    profile, binner.count(records(profile, rng, 1_000, {feature: make})),
                    WindowId("bench", "v1", w),
                )  # fmt: skip
                hit = any(r.is_problem and r.feature == feature for r in results)
                others += any(r.is_problem and r.feature != feature for r in results)
                if hit and first is None:
                    first = w + 1
            found.append(first)
        caught = [d for d in found if d is not None]
        rows.append({"drift": name, "target": target, "caught": len(caught),
                     "replicates": replicates,
                     "median": statistics.median(caught) if caught else None,
                     "worst": max(caught) if len(caught) == replicates else None,
                     "other_windows": others})  # fmt: skip
        print(f"  {name}: {found}", file=sys.stderr)
    return rows


def cost(profile: BaselineProfile, repeat: int) -> dict[str, float]:
    judge, binner = WindowJudge(), Binner(profile)
    recs = records(profile, np.random.default_rng(5), 10_000)
    counting, judging = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        counts = binner.count(recs)
        t1 = time.perf_counter()
        judge.judge(profile, counts, WindowId("bench", "v1", 0))
        t2 = time.perf_counter()
        counting.append(t1 - t0)
        judging.append(t2 - t1)
    columns = len(profile.features) + 1
    return {"judge_ms": 1e3 * statistics.median(judging),
            "count_ms": 1e3 * statistics.median(counting),
            "count_ns_per_event_feature": 1e9 * statistics.median(counting) / (10_000 * columns),
            "window_bytes": float(len(str(counts.to_dict())))}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=1_000, help="no-drift windows of 1,000")
    p.add_argument("--large-windows", type=int, default=100, help="no-drift windows of 20,000")
    p.add_argument("--replicates", type=int, default=20, help="runs per drift")
    p.add_argument("--repeat", type=int, default=30, help="timings of the cost measure")
    args = p.parse_args()
    profile = baseline()
    print("### Cost of judging (one core)\n")
    c = cost(profile, args.repeat)
    table(
        ["judge 10,000 x (20 + score), default suite", "count 10,000 events",
         "per event per column", "checkpoint of that window"],
        [[f"{c['judge_ms']:.1f} ms", f"{c['count_ms']:.1f} ms",
          f"{c['count_ns_per_event_feature']:.0f} ns", f"{c['window_bytes'] / 1024:.0f} KiB"]],
    )  # fmt: skip
    print("### False alarms, default settings, no drift\n")
    rows = []
    for size, n in ((1_000, args.windows), (20_000, args.large_windows)):
        if n:
            fa = false_alarms(profile, size, n, seed=size)
            rows.append([f"{size:,}", f"{n:,}",
                         f"{fa['warning']} ({100 * fa['warning'] / n:.2f}%)",
                         f"{fa['critical']} ({100 * fa['critical'] / n:.2f}%)",
                         str(fa["by_metric"] or "-")])  # fmt: skip
    table(["window", "windows", "any warning", "any critical", "flags by metric"], rows)
    if args.replicates:
        print("### Detection delay, windows of 1,000 (window 1 = the first drifted window)\n")
        table(
            ["drift", "target", "caught within 5", "median", "worst", "others flagged"],
            [[r["drift"], str(r["target"]), f"{r['caught']}/{r['replicates']}", str(r["median"]),
              str(r["worst"]), str(r["other_windows"])] for r in delays(profile, args.replicates)],
        )  # fmt: skip


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


if __name__ == "__main__":
    main()
