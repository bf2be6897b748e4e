"""ADWIN on the prediction score and chosen features, resumed across restarts and moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftd.events import PredictionRecord
from driftd.monitoring import DriftMonitor
from driftd.storage.memory import InMemoryControlStore

from .helpers import Stores, prediction, stores_with


def records(n: int, *, start: int = 0, shift_at: int = 10**9) -> list[PredictionRecord]:
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        up = 0.4 if i >= shift_at else 0.0
        out.append(prediction(i, num={"x": float(rng.normal()) + 2 * up},
                              pred_num=float(min(1.0, rng.beta(2, 5) + up))))  # fmt: skip
    return out


@pytest.fixture
def stores() -> Stores:
    rng = np.random.default_rng(0)
    return stores_with(pd.DataFrame({"x": rng.normal(size=5_000), "s": rng.beta(2, 5, 5_000)}),
                       prediction="s")  # fmt: skip


def adwin(closed: list) -> list[tuple[int, str, float, str]]:  # type: ignore[type-arg]
    return [(w.window_id, r.feature, r.value, r.severity)
            for w in closed for r in w.rows if r.metric == "adwin"]  # fmt: skip


def test_adwin_flags_the_window_where_the_score_moved(stores) -> None:  # type: ignore[no-untyped-def]
    monitor = DriftMonitor(*stores, window_size=1_000, stream_features=["x"])
    found = adwin(monitor.observe(records(4_000, shift_at=2_500)))
    fired = {(wid, feature) for wid, feature, value, _ in found if value > 0}
    assert {(wid, f) for wid, f, _, s in found if s == "warning"} == fired
    assert {f for _, f in fired} == {"s", "x"}  # the prediction keeps its column name
    assert all(wid >= 2 for wid, _ in fired)  # nothing before the change
    assert {wid for wid, f in fired if f == "s"} & {2, 3}


def test_a_restart_mid_window_resumes_every_detector(stores) -> None:  # type: ignore[no-untyped-def]
    recs = records(4_000, shift_at=2_500)
    store, control = stores
    straight = adwin(DriftMonitor(store, InMemoryControlStore(), window_size=1_000,
                                  stream_features=["x"]).observe(recs))  # fmt: skip
    first = DriftMonitor(store, control, window_size=1_000, stream_features=["x"])
    closed = first.observe(recs[:2_700])
    first.checkpoint()
    first.forget("t", [0])  # the partition moves away; another collector takes it
    second = DriftMonitor(store, control, window_size=1_000, stream_features=["x"])
    closed += second.observe(recs[2_600:])  # 2,600..2,699 redelivered: not fed twice
    assert adwin(closed) == straight
