"""Side by side: driftd's verdicts beside Evidently's and NannyML's, on the same windows.

Run with the peers environment's Python, never driftd's (neither tool is a
driftd dependency, and this script does not import driftd), on the directory
written by ``bench/peers_export.py``:

    /work/peers-venv/bin/python bench/peers_bench.py /tmp/peers

- **Evidently**: ``Report([DataDriftPreset()])`` run on (reference, window)
  for each window, default methods and thresholds; a window is flagged when
  any of the 20 columns is reported drifted.
- **NannyML**: ``UnivariateDriftCalculator`` with its default methods, fitted
  once on the reference (chunks of the window size), then ``calculate`` on
  each window as one chunk; a window is flagged when any column's alert is set.

Prints a markdown table: per tool and scenario, the share of windows flagged
(false alarm rate without drift, detection rate with it), how often the
drifted feature itself was flagged, agreement with driftd's verdict on the
same window, and the median time per window.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

warnings.filterwarnings("ignore")
# Neither tool may phone home during the timings (NannyML's usage logging
# otherwise tries to reach its collector on every call).
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def evidently_judge(reference: pd.DataFrame, features: list[str]) -> tuple[Any, dict[str, str]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in features if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in features if c not in numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = Dataset.from_pandas(reference[features], data_definition=definition)
    methods: dict[str, str] = {}

    def judge(window: pd.DataFrame) -> list[str]:
        cur = Dataset.from_pandas(window[features], data_definition=definition)
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        drifted = []
        for metric in snapshot.dict()["metrics"]:
            config = metric.get("config", {})
            if config.get("type", "").endswith("ValueDrift"):
                column, method = config["column"], config.get("method")
                threshold, value = config.get("threshold"), metric["value"]
                methods[column] = f"{method} ({threshold})"
                is_p = "p_value" in str(method) or method in _P_VALUE_METHODS
                if (value < threshold) if is_p else (value >= threshold):
                    drifted.append(column)
        return drifted

    return judge, methods


_P_VALUE_METHODS = {"K-S p_value", "chi-square p_value", "Z-test p_value"}


def nannyml_judge(
    reference: pd.DataFrame, features: list[str], size: int
) -> tuple[Any, dict[str, str], float]:
    import nannyml as nml

    calc = nml.UnivariateDriftCalculator(column_names=features, chunk_size=size)
    t0 = time.perf_counter()
    calc.fit(reference[features])
    fit_ms = 1e3 * (time.perf_counter() - t0)
    methods = {
        "continuous": ", ".join(calc.continuous_method_names),
        "categorical": ", ".join(calc.categorical_method_names),
    }

    def judge(window: pd.DataFrame) -> list[str]:
        result = calc.calculate(window[features]).filter(period="analysis")
        frame = result.to_df()
        drifted = set()
        for column in frame.columns:
            if len(column) == 3 and column[2] == "alert" and bool(frame[column].any()):
                drifted.add(column[0])
        return sorted(drifted)

    return judge, methods, fit_ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="directory written by bench/peers_export.py")
    args = p.parse_args()
    meta = json.loads((args.data / "driftd.json").read_text())
    features: list[str] = meta["features"]
    windows: list[dict[str, Any]] = meta["windows"]
    reference = pd.read_parquet(args.data / "reference.parquet")
    size = len(pd.read_parquet(args.data / "windows" / f"{windows[0]['window']}.parquet"))

    tools: dict[str, Any] = {}
    notes: list[str] = []
    try:
        ev, ev_methods = evidently_judge(reference, features)
        tools["Evidently DataDriftPreset"] = ev
    except ImportError as e:
        notes.append(f"Evidently not measured: {e}")
        ev_methods = {}
    try:
        nm, nm_methods, fit_ms = nannyml_judge(reference, features, size)
        tools["NannyML UnivariateDriftCalculator"] = nm
        notes.append(f"NannyML's methods: {nm_methods}")
        notes.append(f"NannyML fit on the reference: {fit_ms:.0f} ms (once, not per window)")
    except ImportError as e:
        notes.append(f"NannyML not measured: {e}")

    verdicts: dict[str, list[tuple[list[str], float]]] = {name: [] for name in tools}
    for i, w in enumerate(windows):
        window = pd.read_parquet(args.data / "windows" / f"{w['window']}.parquet")
        for name, judge in tools.items():
            t0 = time.perf_counter()
            drifted = judge(window)
            verdicts[name].append((drifted, 1e3 * (time.perf_counter() - t0)))
        if (i + 1) % 10 == 0:
            print(f"  {i + 1}/{len(windows)} windows", file=sys.stderr)

    rows = []
    scenarios = list(dict.fromkeys(w["scenario"] for w in windows))
    for scenario in scenarios:
        idx = [i for i, w in enumerate(windows) if w["scenario"] == scenario]
        feature = windows[idx[0]]["feature"]
        d_flag = sum(windows[i]["flagged"] for i in idx)
        d_feat = sum(feature in windows[i]["features"] for i in idx) if feature else None
        d_ms = statistics.median(windows[i]["ms"] for i in idx)
        rows.append(_row("driftd (default judge)", scenario, len(idx), d_flag, d_feat, None, d_ms))
        for name in tools:
            got = [verdicts[name][i] for i in idx]
            flag = sum(bool(d) for d, _ in got)
            feat = sum(feature in d for d, _ in got) if feature else None
            agree = sum(bool(got[k][0]) == windows[i]["flagged"] for k, i in enumerate(idx))
            ms = statistics.median(t for _, t in got)
            rows.append(_row(name, scenario, len(idx), flag, feat, agree, ms))
    print(f"Reference {len(reference):,} rows, windows of {size:,}, {len(features)} features.\n")
    header = ["tool", "scenario", "windows", "windows flagged", "drifted feature flagged",
              "agrees with driftd", "median ms / window"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for name in tools:
        noise = Counter(
            c for (d, _), w in zip(verdicts[name], windows, strict=True)
            for c in d if c != w["feature"]
        )  # fmt: skip
        print(f"- {name}: columns flagged besides the drifted one: {dict(noise.most_common())}")
    d_noise = Counter(c for w in windows for c in w["features"] if c != w["feature"])
    print(f"- driftd: columns flagged besides the drifted one: {dict(d_noise.most_common())}")
    if ev_methods:
        print(f"- Evidently's methods: {dict(Counter(ev_methods.values()))}")
    for note in notes:
        print(f"- {note}")


def _row(
    tool: str, scenario: str, n: int, flag: int, feat: int | None, agree: int | None, ms: float
) -> list[str]:
    return [tool, scenario, str(n), f"{flag}/{n} ({100 * flag / n:.0f}%)",
            "-" if feat is None else f"{feat}/{n}",
            "-" if agree is None else f"{agree}/{n}", f"{ms:.1f}"]  # fmt: skip


if __name__ == "__main__":
    main()
