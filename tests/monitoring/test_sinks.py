"""Result sinks: gauges labelled by metric, stale baseline versions removed; storage tokens."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pandas as pd

from driftd.baselines import create_baseline
from driftd.config import load_settings
from driftd.metrics import Metrics
from driftd.monitoring import GaugeSink, StorageSink, WindowResult
from driftd.services import build_services
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

from .helpers import prediction


def result(version: str, window: int, end_ms: int, metric: str, value: float,
           feature: str = "x", severity: str = "ok") -> WindowResult:  # fmt: skip
    return WindowResult("m", version, window, end_ms - 1_000, end_ms, 1_000, feature, metric,
                        value, None, value, severity)  # type: ignore[arg-type]  # fmt: skip


def sample(metrics: Metrics, name: str, version: str, metric: str) -> float | None:
    labels = {"model": "m", "baseline_version": version, "feature": "x", "metric": metric,
              "segment": ""}  # fmt: skip
    return metrics.registry.get_sample_value(name, labels)


def test_each_metric_has_its_own_series_and_stale_versions_are_removed() -> None:
    metrics = Metrics()
    sink = GaugeSink(metrics, stale_ms=10_000)
    sink.publish([result("v1", 0, 1_000, "psi", 0.3, severity="critical"),
                  result("v1", 0, 1_000, "ks", 1e-6)])  # fmt: skip
    assert sample(metrics, "driftd_drift_value", "v1", "psi") == 0.3
    assert sample(metrics, "driftd_drift_value", "v1", "ks") == 1e-6
    assert sample(metrics, "driftd_drift_severity", "v1", "psi") == 3
    assert metrics.registry.get_sample_value("driftd_windows_closed_total", {"model": "m"}) == 1
    sink.publish([result("v2", 0, 5_000, "psi", 0.01)])  # both versions active
    assert sample(metrics, "driftd_drift_value", "v1", "psi") == 0.3
    sink.publish([result("v2", 1, 20_000, "psi", 0.02)])  # v1 silent for 19 s > 10 s
    assert sample(metrics, "driftd_drift_value", "v1", "psi") is None
    assert sample(metrics, "driftd_drift_value", "v1", "ks") is None
    assert sample(metrics, "driftd_drift_value", "v2", "psi") == 0.02


def test_a_version_removed_as_stale_and_active_again_is_exported_again() -> None:
    """The sink keeps each series' gauges; a removed series must not be set through them."""
    metrics = Metrics()
    sink = GaugeSink(metrics, stale_ms=10_000)
    sink.publish([result("v1", 0, 1_000, "psi", 0.3)])
    sink.publish([result("v2", 0, 20_000, "psi", 0.02)])  # v1 removed
    assert sample(metrics, "driftd_drift_value", "v1", "psi") is None
    sink.publish([result("v1", 1, 30_000, "psi", 0.4)])  # a rollback: v1 again
    assert sample(metrics, "driftd_drift_value", "v1", "psi") == 0.4
    sink.publish([result("v1", 2, 31_000, "psi", 0.5)])
    assert sample(metrics, "driftd_drift_value", "v1", "psi") == 0.5
    assert sample(metrics, "driftd_drift_severity", "v1", "psi") == 0


def test_the_collector_and_the_performance_ticker_publish_at_once() -> None:
    """One sink serves two threads: removing stale versions while the other thread adds
    one must neither fail nor leave a series behind."""
    metrics = Metrics()
    sink = GaugeSink(metrics, stale_ms=0)
    failures: list[BaseException] = []
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can

    def publish(thread: int) -> None:
        try:
            for i in range(1_500):
                sink.publish([result(f"t{thread}-{i}", i, 1_000 + i, "psi", 0.1)])
        except BaseException as exc:  # reported below
            failures.append(exc)

    try:
        threads = [threading.Thread(target=publish, args=(t,)) for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert failures == []
    left = {
        s.labels["baseline_version"]
        for f in metrics.registry.collect()
        if f.name == "driftd_drift_value"
        for s in f.samples
    }
    # every version but the newest is stale (stale_ms=0): at most the newest ones are left
    assert len(left) <= 2, left


def test_storage_sink_writes_a_window_once_whatever_the_retries() -> None:
    store = InMemoryEventStore()
    store.migrate()
    sink = StorageSink(store, clock=lambda: 1.0)
    rows = [result("v1", 0, 1_000, "psi", 0.3), result("v1", 0, 1_000, "ks", 0.1)]
    sink.publish(rows)
    sink.publish(rows)  # a retried publish: same token
    stored = store.query_drift("m", 0, 2**62)
    assert len(stored) == 2 and {m.computed_ms for m in stored} == {1_000}
    assert {(m.metric, m.severity, m.effect_size) for m in stored} == {
        ("psi", "ok", 0.3), ("ks", "ok", 0.1)}  # fmt: skip


def test_a_sink_appended_to_services_receives_every_closed_window() -> None:
    settings = load_settings(None, window={"size": 200, "stream_detector": None})
    services = build_services(settings, store=InMemoryEventStore(), control=InMemoryControlStore())
    try:
        frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=1_000)})
        create_baseline(services.store, services.control, frame, "m", "v1")
        seen: list[WindowResult] = []

        class Recorder:  # one more sink, appended after the daemon's own
            def publish(self, results: list[WindowResult]) -> None:
                seen.extend(results)

        services.sinks.append(Recorder())
        records = [prediction(i, num={"x": float(i % 7)}) for i in range(200)]
        assert services.monitor.process(records) == 1
        assert {r.window_id for r in seen} == {0} and {r.feature for r in seen} == {"x"}
        assert [type(s).__name__ for s in services.sinks] == [
            "StorageSink",
            "GaugeSink",
            "AlertingSink",
            "Recorder",
        ]
    finally:
        services.close()
