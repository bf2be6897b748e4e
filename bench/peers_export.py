"""Windows and driftd's verdicts on them, for the side-by-side benchmark.

Uses ``verdict_bench.py``'s generators: a reference of 10,000 rows, undrifted
windows and windows with five of its drifts, 1,000 rows each, 20 features
(the score column is carried along for driftd's profile; the comparison looks
at the 20 features only). Judges each window with driftd's default suite and
policy (``WindowJudge()``) against a profile of that same reference, and
writes to ``OUT``:

- ``reference.parquet`` and ``windows/<scenario>-<k>.parquet``;
- ``driftd.json``: per window, the scenario, the drifted feature, whether any
  of the 20 features had a warning or critical, which ones, and the time to
  count the window's events and judge it.

    .venv/bin/python bench/peers_export.py /tmp/peers --windows 50 --drifted 10

Then run ``bench/peers_bench.py`` with the peers environment's Python.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from driftd.detectors import Binner, profile_dataframe
from driftd.detectors.thresholds import records_from_frame
from driftd.monitoring.judge import WindowId, WindowJudge
from verdict_bench import DRIFTS, generators

SCENARIOS = [
    "mean +0.5 sigma",
    "variance x1.5",
    "category share +10 points",
    "new category at 5%",
    "missing 0 -> 20%",
]


def frame(rng: np.random.Generator, n: int, overrides: dict | None = None) -> pd.DataFrame:
    cols = generators() | (overrides or {})
    return pd.DataFrame({name: make(rng, n) for name, make in cols.items()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--windows", type=int, default=50, help="undrifted windows")
    p.add_argument("--drifted", type=int, default=10, help="windows per drift scenario")
    p.add_argument("--size", type=int, default=1_000)
    p.add_argument("--reference", type=int, default=10_000)
    args = p.parse_args()
    out: Path = args.out
    (out / "windows").mkdir(parents=True, exist_ok=True)

    reference = frame(np.random.default_rng(0), args.reference)
    reference.to_parquet(out / "reference.parquet")
    profile = profile_dataframe(reference, "bench", "v1", prediction="score")
    features = [c for c in reference.columns if c != "score"]
    judge, binner = WindowJudge(), Binner(profile)

    plan = [("no drift", "", None, args.windows)]
    plan += [(s, DRIFTS[s][0], DRIFTS[s][1], args.drifted) for s in SCENARIOS]
    rows = []
    rng = np.random.default_rng(42)
    w = 0
    for scenario, feature, make, count in plan:
        for k in range(count):
            window = frame(rng, args.size, {feature: make} if make is not None else None)
            name = f"{scenario.replace(' ', '_').replace('%', 'pct')}-{k}"
            window.to_parquet(out / "windows" / f"{name}.parquet")
            recs = records_from_frame(window, profile)
            t0 = time.perf_counter()
            results = judge.judge(profile, binner.count(recs), WindowId("bench", "v1", w))
            elapsed = time.perf_counter() - t0
            flagged = sorted({r.feature for r in results if r.is_problem and r.feature in features})
            rows.append({"window": name, "scenario": scenario, "feature": feature,
                         "flagged": bool(flagged), "features": flagged,
                         "ms": 1e3 * elapsed})  # fmt: skip
            w += 1
        print(f"  {scenario}: {count} windows", file=sys.stderr)
    (out / "driftd.json").write_text(json.dumps({"features": features, "windows": rows}, indent=1))
    print(f"wrote {len(rows)} windows to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
