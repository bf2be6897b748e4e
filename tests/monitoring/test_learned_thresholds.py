"""Thresholds learned from the baseline: stored with it, and only ever raising the floors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from driftd.baselines import create_baseline
from driftd.detectors import BaselineProfile, profile_dataframe
from driftd.detectors.thresholds import WARNING_QUANTILE, learn_thresholds
from driftd.errors import BaselineError
from driftd.monitoring import DriftMonitor

from .helpers import prediction, stores_with


def seasonal(n: int = 40_000) -> pd.DataFrame:
    """A feature whose level wanders through the training period (weeks, seasons)."""
    rng = np.random.default_rng(21)
    level = np.repeat(rng.normal(0, 0.3, n // 1_000), 1_000)
    return pd.DataFrame({"x": rng.normal(0, 1, n) + level, "y": rng.normal(0, 1, n)})


def test_learned_floors_match_the_windows_effect_sizes() -> None:
    frame = seasonal()
    profile = profile_dataframe(frame, "m", "v1")
    learned = learn_thresholds(frame, profile, window_size=1_000)
    sample = np.asarray(profile.features["x"].sample)
    ds = [stats.ks_2samp(frame["x"].iloc[i * 1_000 : (i + 1) * 1_000], sample, method="asymp")
          .statistic for i in range(40)]  # fmt: skip
    warning, critical = learned["x"]["ks"]
    assert warning == pytest.approx(np.quantile(ds, WARNING_QUANTILE), rel=1e-9)
    assert critical == pytest.approx(max(ds) * 1.5, rel=1e-9)
    assert learned["y"]["ks"][0] < warning  # the steady feature moves less by chance
    with pytest.raises(ValueError, match="fewer than 5 windows"):
        learn_thresholds(frame.head(3_000), profile, window_size=1_000)


def test_a_baseline_with_learned_floors_does_not_flag_its_own_kind_of_variation() -> None:
    frame = seasonal()
    store, control = stores_with(frame)
    create_baseline(store, control, frame, "m", "plain")
    create_baseline(store, control, frame, "m", "learned", learn_window=1_000)
    profile = BaselineProfile.from_dict(json.loads(store.get_baseline("m", "learned").profile_json))
    assert profile.thresholds["x"]["ks"][0] > 0.05  # above the default floor
    rng = np.random.default_rng(22)
    week = [prediction(i, model_version=version, num={"x": float(v), "y": float(w)})
            for version in ("plain", "learned")
            for i, (v, w) in enumerate(zip(rng.normal(0.35, 1, 1_000), rng.normal(0, 1, 1_000),
                                           strict=True))]  # fmt: skip
    for i, r in enumerate(week):
        r.source = None
        r.event_id = f"w{i}"
    closed = DriftMonitor(store, control, window_size=1_000).observe(week)
    flagged = {w.baseline_version: {r.feature for r in w.rows if r.is_problem} for w in closed}
    assert flagged == {"plain": {"x"}, "learned": set()}
    with pytest.raises(BaselineError, match="windows"):
        create_baseline(store, control, frame.head(2_000), "m", "tiny", learn_window=1_000)
