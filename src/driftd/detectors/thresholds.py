"""Thresholds learned from the baseline itself: how much each statistic moves by chance.

The training data is cut into windows of the production size, each window is
judged against the baseline like live traffic, and per column and metric the
effect sizes seen are summarised: the learned warning floor is their
``WARNING_QUANTILE`` quantile, the critical floor their maximum times
``CRITICAL_MARGIN``. The windows are part of the data the baseline was
profiled from, so they move a little less than live windows would; learned
floors therefore only ever *raise* the defaults (``Policy.rules``), for
columns whose chance variation is larger than the defaults assume.

>>> import numpy as np, pandas as pd
>>> from driftd.detectors.baseline import profile_dataframe
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.normal(size=5_000), "c": rng.choice(list("ab"), 5_000)})
>>> learned = learn_thresholds(df, profile_dataframe(df, "m", "v"), window_size=500)
>>> sorted(learned["x"]), learned["x"]["ks"][0] <= learned["x"]["ks"][1]
(['ks', 'missing_rate', 'out_of_range', 'psi', 'spread', 'type_mismatch'], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftd.detectors.base import WindowTest
from driftd.detectors.profiles import PREDICTION_KEY, BaselineProfile
from driftd.detectors.registry import DEFAULT_TESTS, WINDOW_TESTS
from driftd.detectors.window import Binner
from driftd.events import PredictionRecord

__all__ = ["CRITICAL_MARGIN", "WARNING_QUANTILE", "learn_thresholds", "records_from_frame"]

WARNING_QUANTILE = 0.99
CRITICAL_MARGIN = 1.5
_MIN_WINDOWS = 5


def records_from_frame(frame: pd.DataFrame, profile: BaselineProfile) -> list[PredictionRecord]:
    """Rows as prediction records, typed as live events would be (NaN and None are missing)."""
    prediction = profile.prediction.name if profile.prediction is not None else None
    probabilities = {c: p.name for c, p in profile.probabilities.items()}
    rows: list[dict[Any, Any]] = frame.to_dict("records")
    out = []
    for i, row in enumerate(rows):
        num: dict[str, float] = {}
        cat: dict[str, str] = {}
        for name in profile.features:
            value = row.get(name)
            if isinstance(value, bool | np.bool_):
                cat[name] = "true" if value else "false"
            elif isinstance(value, str):
                cat[name] = value
            elif isinstance(value, int | float | np.number) and not math.isnan(float(value)):
                num[name] = float(value)
        pred = row.get(prediction) if prediction is not None else None
        proba = {c: float(row[col]) for c, col in probabilities.items()}
        if pred is None and proba:
            pred = max(proba, key=proba.__getitem__)  # the derived predicted class
        numeric_pred = isinstance(pred, int | float | np.number) and not isinstance(pred, bool)
        out.append(PredictionRecord(
            event_id=str(i), model=profile.model, model_version="", timestamp_ms=i,
            received_ms=0, request_id="", num=num, cat=cat, nulls=[],
            pred_num=float(pred) if numeric_pred and pred is not None else None,
            pred_label="" if pred is None or numeric_pred else str(pred),
            pred_proba=proba,
            segments={}, latency_ms=None,
        ))  # fmt: skip
    return out


def learn_thresholds(
    frame: pd.DataFrame,
    profile: BaselineProfile,
    *,
    window_size: int,
    tests: Sequence[str] = DEFAULT_TESTS,
    max_windows: int = 200,
) -> dict[str, dict[str, list[float]]]:
    """Column -> metric -> ``[warning, critical]`` effect-size floors seen by chance.

    ``ValueError`` when the data holds fewer than 5 windows of ``window_size``.
    """
    windows = min(len(frame) // window_size, max_windows)
    if window_size < 1 or windows < _MIN_WINDOWS:
        raise ValueError(
            f"{len(frame)} rows make fewer than {_MIN_WINDOWS} windows of {window_size}"
        )
    binner = Binner(profile)
    suite: list[WindowTest] = [WINDOW_TESTS[t]() for t in tests]
    columns = {**{n: (n, p) for n, p in profile.features.items()},
               **({PREDICTION_KEY: (profile.prediction.name, profile.prediction)}
                  if profile.prediction is not None else {}),
               **{p.name: (p.name, p) for p in profile.probabilities.values()}}  # fmt: skip
    seen: dict[str, dict[str, list[float]]] = {}
    for w in range(windows):
        part = frame.iloc[w * window_size : (w + 1) * window_size]
        counts = binner.count(records_from_frame(part, profile))
        for key, (name, reference) in columns.items():
            column = counts.column(key)
            for test in suite:
                if reference.kind in test.kinds:
                    finding = test.judge(reference, column)
                    if finding is not None:
                        seen.setdefault(name, {}).setdefault(finding.metric, []).append(
                            finding.effect_size
                        )
    return {
        name: {
            metric: [
                float(np.quantile(values, WARNING_QUANTILE)),
                float(max(values) * CRITICAL_MARGIN),
            ]
            for metric, values in metrics.items()
        }
        for name, metrics in seen.items()
    }
