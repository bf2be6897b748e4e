"""Performance as labels join: late, repeated, corrected labels; drops flagged; ADWIN."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from typing import Any

import pytest

from driftd.detectors.perf_verdict import PerformancePolicy
from driftd.events import Coordinates, OutcomeRecord
from driftd.monitoring import StorageSink
from driftd.monitoring.perf_windows import OUTCOME_FEATURE
from driftd.monitoring.performance import DAY_MS, ERROR_CHANGE, PerformanceMonitor, PerformancePlan
from driftd.storage import EventStore, InMemoryControlStore, InMemoryEventStore
from driftd.storage.base import EventStoreProtocol
from driftd.storage.records import DriftMetric
from tests.monitoring.perf_helpers import STEP_MS, T0, Clock, Collect, add_baseline, stream

WINDOW_MS = 1_000 * STEP_MS  # 1,000 predictions a window


def _monitor(
    store: EventStoreProtocol, clock: Clock, *, segments: tuple[str, ...] = ("region",)
) -> tuple[PerformanceMonitor, Collect, InMemoryControlStore]:
    control = InMemoryControlStore()
    control.migrate()
    collect = Collect()
    plan = PerformancePlan(window_ms=WINDOW_MS, segment_keys=segments, resamples=50)
    monitor = PerformanceMonitor(store, control, [StorageSink(store, clock), collect], plan, clock)
    return monitor, collect, control


def _final(store: EventStoreProtocol) -> dict[tuple[int, str, str], float]:
    """Stored performance per (window, segment, metric), label delays left out."""
    rows = store.query_drift("m", 0, 2**62, feature=OUTCOME_FEATURE)
    return {
        (r.window_id, r.segment, r.metric): round(r.value, 12)
        for r in rows
        if not r.metric.startswith("label_delay")
    }


def _memory() -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.migrate()
    return store


def _at_once(store: EventStoreProtocol, n: int) -> dict[tuple[int, str, str], float]:
    predictions, outcomes = stream(n, 0.85, seed=4)
    store.insert_predictions(predictions)
    store.insert_outcomes(outcomes)
    clock = Clock(T0 + n * STEP_MS)
    monitor, _, _ = _monitor(store, clock)
    monitor.recompute()
    return _final(store)


def _late_and_messy(store: EventStoreProtocol, n: int) -> dict[tuple[int, str, str], float]:
    """The same labels, shuffled, some twice, some first wrong then corrected, days late."""
    predictions, outcomes = stream(n, 0.85, seed=4)
    rng = random.Random(9)
    clock = Clock(T0)
    monitor, _, control = _monitor(store, clock)
    messy: list[OutcomeRecord] = []
    for original in outcomes:
        o = original
        if rng.random() < 0.2:  # a wrong label first, corrected later (a later timestamp)
            wrong = "no" if o.outcome_label == "yes" else "yes"
            messy.append(replace(o, event_id=o.event_id + "-wrong", outcome_label=wrong))
            o = replace(o, timestamp_ms=o.timestamp_ms + 1)
        messy.append(o)
        if rng.random() < 0.2:
            messy.append(o)  # repeated
    rng.shuffle(messy)
    store.insert_predictions(predictions[: n // 2])
    batches = [messy[i : i + 250] for i in range(0, len(messy), 250)]
    for k, sent in enumerate(batches):
        clock.now_ms = T0 + k * DAY_MS // 4  # labels up to days late
        batch = [replace(o, received_ms=clock.now_ms) for o in sent]
        store.insert_outcomes(batch)
        if k == len(batches) // 2:  # predictions after some of their outcomes
            store.insert_predictions(
                [replace(p, received_ms=clock.now_ms) for p in predictions[n // 2 :]]
            )
        monitor.observe_outcomes(batch)
        if k % 3 == 0:
            monitor.recompute()
            monitor = PerformanceMonitor(  # a restart now and then: state from the checkpoint
                store, control, monitor.sinks, monitor.plan, clock
            )
    clock.now_ms += 2 * DAY_MS
    monitor.recompute()
    return _final(store)


def test_late_repeated_and_corrected_labels_end_as_labels_at_once() -> None:
    expected = _at_once(_memory(), 3_000)
    assert {m for _, _, m in expected} >= {"accuracy", "auc", "f1", "log_loss", "ece"}
    assert {s for _, s, _ in expected} == {"", "region=eu", "region=us"}
    assert _late_and_messy(_memory(), 3_000) == expected


def test_late_labels_on_chdb_end_as_labels_at_once(chdb_url: str) -> None:
    stores = []
    for _ in range(2):
        store = EventStore.connect(
            chdb_url, database=f"perf_{len(stores)}_{random.getrandbits(32)}"
        )
        store.migrate()
        stores.append(store)
    try:
        assert _late_and_messy(stores[1], 2_000) == _at_once(stores[0], 2_000)
    finally:
        for store in stores:
            store.client.command(f"DROP DATABASE IF EXISTS {store.database}")
            store.close()


def test_a_recomputed_window_is_stored_again() -> None:
    store = _memory()
    predictions, outcomes = stream(1_000, 0.9)
    store.insert_predictions(predictions)
    clock = Clock(T0 + 2 * WINDOW_MS)
    monitor, _, _ = _monitor(store, clock, segments=())
    store.insert_outcomes(outcomes[:500])
    monitor.recompute()
    clock.now_ms += 60_000
    store.insert_outcomes([replace(o, received_ms=clock.now_ms) for o in outcomes[500:]])
    monitor.recompute()
    fraction = [r for r in _final_rows(store) if r.metric == "labelled_fraction"]
    assert [r.value for r in fraction] == [1.0]


def _final_rows(store: EventStoreProtocol) -> list[DriftMetric]:
    return store.query_drift("m", 0, 2**62, feature=OUTCOME_FEATURE)


def test_an_accuracy_drop_is_flagged_within_two_windows_and_earlier_by_adwin() -> None:
    store = _memory()
    control = InMemoryControlStore()
    control.migrate()
    add_baseline(store, control, accuracy=0.90)
    n, change = 20_000, 10_000
    predictions, outcomes = stream(n, [0.9] * change + [0.8] * (n - change), seed=1)
    store.insert_predictions(predictions)
    clock = Clock(T0)
    collect = Collect()
    plan = PerformancePlan(window_ms=WINDOW_MS, policy=PerformancePolicy(min_labelled=500))
    monitor = PerformanceMonitor(store, control, [collect], plan, clock)
    adwin_at = None
    for start in range(0, n, 100):  # labels join a hundred at a time, in order
        batch = [replace(o, source=Coordinates("driftd.outcomes", 0, o_i))
                 for o_i, o in enumerate(outcomes[start : start + 100], start)]  # fmt: skip
        store.insert_outcomes(batch)
        if monitor.observe_outcomes(batch) and adwin_at is None:
            adwin_at = start + 100
        if (start + 100) % 1_000 == 0:  # the ticker, once a window's labels are in
            clock.now_ms = T0 + (start + 100) * STEP_MS
            monitor.recompute()
    flagged = sorted(
        r.window_id - T0 // WINDOW_MS
        for r in collect.results
        if r.metric == "accuracy" and r.segment == "" and r.is_problem
    )
    assert flagged and flagged[0] in (10, 11)  # the change is at window 10
    assert set(flagged) >= set(range(12, 20))
    changes = [r for r in collect.results if r.metric == ERROR_CHANGE]
    assert adwin_at is not None and change < adwin_at <= change + 1_000  # before window 10 closes
    assert all(r.window_id - T0 // WINDOW_MS >= 10 for r in changes)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_stable_model_raises_nothing(seed: int) -> None:
    store = _memory()
    control = InMemoryControlStore()
    control.migrate()
    add_baseline(store, control, accuracy=0.90)
    n = 50_000
    predictions, outcomes = stream(n, 0.9, seed=seed)
    store.insert_predictions(predictions)
    store.insert_outcomes(outcomes)
    clock = Clock(T0 + n * STEP_MS)
    collect = Collect()
    plan = PerformancePlan(window_ms=WINDOW_MS, policy=PerformancePolicy(min_labelled=500))
    monitor = PerformanceMonitor(store, control, [collect], plan, clock)
    for start in range(0, n, 5_000):
        monitor.observe_outcomes(outcomes[start : start + 5_000])
    monitor.recompute()
    assert len({r.window_id for r in collect.results}) == 50
    assert [r for r in collect.results if r.is_problem] == []


class _SlowJoin(InMemoryEventStore):
    """A store whose window join waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def read_window(self, *args: Any) -> Any:
        self.entered.set()
        assert self.release.wait(60)
        return super().read_window(*args)


def test_a_long_recompute_does_not_hold_up_the_error_stream() -> None:
    store = _SlowJoin()
    store.migrate()
    predictions, outcomes = stream(2_000, 0.9)
    store.insert_predictions(predictions)
    store.insert_outcomes(outcomes)
    monitor, _, control = _monitor(store, Clock(T0 + 3 * WINDOW_MS))
    recompute = threading.Thread(target=monitor.recompute)
    recompute.start()
    try:
        assert store.entered.wait(60)
        monitor.observe_outcomes(outcomes)  # returns while the recompute is still joining
        saved = json.loads(control.load_checkpoint("performance/m") or "{}")
        assert saved["detector"][0] == "adwin" and saved["scan_ms"] is None
    finally:
        store.release.set()
        recompute.join(60)
    assert (
        json.loads(control.load_checkpoint("performance/m") or "{}")["scan_ms"]
        == T0 + 3 * WINDOW_MS
    )


def test_performance_gauges_do_not_count_as_closed_windows() -> None:
    from driftd.metrics import Metrics
    from driftd.monitoring import GaugeSink

    store = _memory()
    predictions, outcomes = stream(1_000, 0.9)
    store.insert_predictions(predictions)
    store.insert_outcomes(outcomes)
    metrics = Metrics()
    control = InMemoryControlStore()
    control.migrate()
    plan = PerformancePlan(window_ms=WINDOW_MS)
    clock = Clock(T0 + 2 * WINDOW_MS)
    PerformanceMonitor(store, control, [GaugeSink(metrics)], plan, clock).recompute()
    labels = {"model": "m", "baseline_version": "", "feature": OUTCOME_FEATURE,
              "metric": "accuracy", "segment": ""}  # fmt: skip
    expected = sum(
        p.pred_label == o.outcome_label for p, o in zip(predictions, outcomes, strict=True)
    )
    assert metrics.registry.get_sample_value("driftd_drift_value", labels) == expected / 1_000
    assert metrics.registry.get_sample_value("driftd_windows_closed_total", {"model": "m"}) is None
