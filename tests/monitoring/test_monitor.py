"""The drift monitor: window slicing, baseline routing, checkpoints, exactly-once counting."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftd.baselines import create_baseline
from driftd.detectors import BaselineProfile
from driftd.events import Coordinates, PredictionRecord
from driftd.monitoring.monitor import DriftMonitor
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

TOPIC = "driftd.predictions"


def training(seed: int = 0, n: int = 5_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b", "c"], n),
                         "p": rng.random(n)})  # fmt: skip


def records(n: int, *, shift: float = 0.0, seed: int = 1, start: int = 0,
            version: str = "") -> list[PredictionRecord]:  # fmt: skip
    rng = np.random.default_rng(seed)
    xs = rng.normal(shift, 1, n)
    cs = rng.choice(["a", "b", "c", "zz"], n, p=[0.3, 0.3, 0.3, 0.1])
    ps = rng.random(n)
    return [
        PredictionRecord(
            event_id=f"e{start + i}", model="m", model_version=version,
            timestamp_ms=1_000 + start + i, received_ms=0, request_id="",
            num={"x": float(xs[i])}, cat={"c": str(cs[i])}, nulls=[], pred_num=float(ps[i]),
            pred_label="", pred_proba={}, segments={}, latency_ms=None,
            source=Coordinates(TOPIC, 0, start + i),
        )
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def stores() -> tuple[InMemoryEventStore, InMemoryControlStore]:
    store, control = InMemoryEventStore(), InMemoryControlStore()
    store.migrate()
    control.migrate()
    create_baseline(store, control, training(), "m", "v1", prediction="p")
    return store, control


def oracle_psi(profile: BaselineProfile, values: np.ndarray) -> float:
    """PSI of ``x`` for one window, straight from the formula in driftd.detectors.psi."""
    p = profile.features["x"]
    edges = np.concatenate([[-np.inf], p.edges, [np.inf]])  # type: ignore[union-attr]
    counts, _ = np.histogram(values, bins=edges)
    alpha, bins = 0.5, len(counts)
    a = (counts + alpha) / (len(values) + alpha * bins)
    e = (np.asarray(p.proportions) * p.count + alpha) / (p.count + alpha * bins)
    return float(np.sum((a - e) * np.log(a / e)))


def test_windows_close_every_size_events_with_psi_matching_the_oracle(stores) -> None:  # type: ignore[no-untyped-def]
    store, control = stores
    monitor = DriftMonitor(store, control, window_size=100)
    recs = records(250, shift=1.0)
    closed = monitor.observe(recs[:130]) + monitor.observe(recs[130:])
    assert [w.window_id for w in closed] == [0, 1]
    profile = BaselineProfile.from_dict(json.loads(store.get_baseline("m").profile_json))
    for window in closed:
        lo = window.window_id * 100
        xs = np.array([r.num["x"] for r in recs[lo : lo + 100]])
        by_feature = {row.feature: row for row in window.rows if row.metric == "psi"}
        assert by_feature["x"].value == pytest.approx(oracle_psi(profile, xs), rel=1e-9)
        assert by_feature["x"].n == 100
        assert by_feature["x"].window_start_ms == 1_000 + lo
        assert by_feature["x"].window_end_ms == 1_000 + lo + 99
        assert set(by_feature) == {"x", "c", "p"}  # the prediction keeps its column name
    shifted = {row.feature: row.value for row in closed[0].rows if row.metric == "psi"}
    assert shifted["x"] > 0.25  # a one-sigma shift is major drift
    assert shifted["p"] < 0.25  # the prediction did not move


def test_stable_data_stays_low(stores) -> None:  # type: ignore[no-untyped-def]
    store, control = stores
    rng = np.random.default_rng(5)
    recs = records(1_000, seed=7)
    for r in recs:
        r.cat["c"] = str(rng.choice(["a", "b", "c"]))
    closed = DriftMonitor(store, control, window_size=1_000).observe(recs)
    psi = [row for row in closed[0].rows if row.metric == "psi"]
    assert len(psi) == 3 and all(row.value < 0.1 for row in psi), psi
    assert all(row.severity == "ok" for row in closed[0].rows), closed[0].rows


def test_checkpoint_resumes_and_redelivery_is_not_counted_twice(stores) -> None:  # type: ignore[no-untyped-def]
    store, control = stores
    recs = records(250, shift=0.5)
    straight = DriftMonitor(store, InMemoryControlStore(), window_size=100).observe(recs)

    first = DriftMonitor(store, control, window_size=100)
    closed = first.observe(recs[:150])
    first.checkpoint()
    # a crash: the next process gets 100..249 again (Kafka redelivers from the last commit)
    second = DriftMonitor(store, control, window_size=100)
    closed += second.observe(recs[100:])
    assert [w.window_id for w in closed] == [0, 1]
    for got, want in zip(closed, straight, strict=True):
        assert [(r.feature, r.metric, r.value, r.n) for r in got.rows] == [
            (r.feature, r.metric, r.value, r.n) for r in want.rows
        ]


def test_routing_by_model_version_and_unknown_models(stores) -> None:  # type: ignore[no-untyped-def]
    store, control = stores
    create_baseline(store, control, training(seed=3), "m", "v2", prediction="p")
    monitor = DriftMonitor(store, control, window_size=50, refresh_s=0)
    assert monitor.known_model("m") and not monitor.known_model("other")
    closed = monitor.observe(records(50, version="v1") + records(50, version="v2", start=50))
    assert sorted(w.baseline_version for w in closed) == ["v1", "v2"]
    # no version, or an unknown one: the newest baseline
    closed = monitor.observe(records(50, version="nope", start=100))
    assert [w.baseline_version for w in closed] == ["v2"]


def test_forget_drops_windows_of_revoked_partitions(stores) -> None:  # type: ignore[no-untyped-def]
    store, control = stores
    monitor = DriftMonitor(store, control, window_size=100)
    monitor.observe(records(60))
    monitor.checkpoint()
    monitor.forget(TOPIC, [0])
    other = DriftMonitor(store, control, window_size=100)
    closed = other.observe(records(100, start=60, seed=9))  # resumes from the checkpoint at 60
    assert len(closed) == 1 and closed[0].rows[0].n == 100


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="window_size"):
        DriftMonitor(InMemoryEventStore(), InMemoryControlStore(), window_size=0)


def test_a_model_of_its_own_plan_gets_its_own_windows(stores) -> None:  # type: ignore[no-untyped-def]
    from driftd.monitoring import WindowPlan

    store, control = stores
    own = WindowPlan(window_size=200, stream_detector=None)
    monitor = DriftMonitor(store, control, window_size=1_000, plans={"m": own})
    closed = monitor.observe(records(450))
    assert [(w.window_id, w.rows[0].n) for w in closed] == [(0, 200), (1, 200)]
    assert not any(r.metric == "adwin" for w in closed for r in w.rows)
