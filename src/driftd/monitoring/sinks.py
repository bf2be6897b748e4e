"""The sinks the daemon wires: storage and Prometheus gauges (alerting adds its own).

>>> from driftd.metrics import Metrics
>>> from driftd.monitoring.results import WindowResult
>>> metrics = Metrics()
>>> r = WindowResult("m", "v1", 0, 0, 1000, 500, "x", "ks", 0.2, 1e-6, 0.2, "critical")
>>> GaugeSink(metrics).publish([r])
>>> metrics.registry.get_sample_value(
...     "driftd_drift_value", {"model": "m", "baseline_version": "v1", "feature": "x",
...                            "metric": "ks", "segment": ""})
0.2
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from driftd.metrics import Metrics
from driftd.monitoring.perf_windows import OUTCOME_FEATURE
from driftd.monitoring.results import WindowResult
from driftd.storage.base import EventStoreProtocol
from driftd.storage.records import DriftMetric

__all__ = ["GaugeSink", "StorageSink", "results_token"]


def results_token(results: Sequence[WindowResult]) -> str:
    """A deduplication token naming a batch of results: their windows and values.

    A retried publish of the same results is dropped; a window recomputed with
    new values (performance, as labels join) is stored again.

    >>> r = WindowResult("m", "v1", 0, 0, 1000, 500, "", "accuracy", 0.9, None, None, "ok")
    >>> results_token([r]) == results_token([r]), results_token([r]) == results_token(
    ...     [WindowResult("m", "v1", 0, 0, 1000, 600, "", "accuracy", 0.8, None, None, "ok")])
    (True, False)
    """
    h = hashlib.sha256()
    for key in sorted({(r.model, r.baseline_version, r.segment, r.window_id) for r in results}):
        h.update(repr(key).encode())
    for r in sorted(results, key=lambda r: r.key):
        h.update(repr((r.key, r.n, r.value, r.severity)).encode())
    return "drift:" + h.hexdigest()[:32]


class StorageSink:
    """Writes results to the event store in one insert, with a token from their windows."""

    def __init__(self, store: EventStoreProtocol, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def publish(self, results: Sequence[WindowResult]) -> None:
        if not results:
            return
        now_ms = int(self.clock() * 1000)
        rows = [
            DriftMetric(
                model=r.model,
                baseline_version=r.baseline_version,
                window_id=r.window_id,
                window_start_ms=r.window_start_ms,
                window_end_ms=r.window_end_ms,
                feature=r.feature,
                metric=r.metric,
                value=r.value,
                n=r.n,
                computed_ms=now_ms,
                p_value=r.p_value,
                effect_size=r.effect_size,
                severity=r.severity,
                segment=r.segment,
            )
            for r in results
        ]
        self.store.insert_drift_metrics(rows, results_token(results))


class GaugeSink:
    """Value and severity gauges labelled by metric; stale baseline versions are removed.

    A model's series of a baseline version are removed once another version
    of the model has closed a window ``stale_ms`` (window end time) after that
    version's last one: the version is no longer active.

    The gauges' children are kept per series (``labels()`` costs ~4 µs a call, and a
    window publishes two per result: ~1 ms of a window of 123 results), and removed
    with their series. One sink serves the collector thread and the performance
    ticker: publishing holds a lock.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        stale_ms: int = 3_600_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if stale_ms < 0:
            raise ValueError(f"stale_ms must be >= 0, got {stale_ms}")
        self.metrics = metrics
        self.stale_ms = stale_ms
        self.clock = clock
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], dict[tuple[str, ...], tuple[Any, Any]]] = {}
        self._last_end: dict[tuple[str, str], int] = {}

    def publish(self, results: Sequence[WindowResult]) -> None:
        with self._lock:
            self._publish(results)

    def _publish(self, results: Sequence[WindowResult]) -> None:
        m = self.metrics
        windows: set[tuple[str, str, str, int]] = set()
        for r in results:
            key = (r.model, r.baseline_version)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = {}
            labels = (r.model, r.baseline_version, r.feature, r.metric, r.segment)
            gauges = series.get(labels)
            if gauges is None:
                gauges = series[labels] = (
                    m.drift_value.labels(*labels),
                    m.drift_severity.labels(*labels),
                )
            gauges[0].set(r.value)
            gauges[1].set(r.rank)
            self._last_end[key] = max(self._last_end.get(key, 0), r.window_end_ms)
            if r.feature != OUTCOME_FEATURE:  # performance windows are recomputed, not closed
                windows.add((r.model, r.baseline_version, r.segment, r.window_id))
        for model, *_ in windows:
            m.windows_closed.labels(model=model).inc()
        now = self.clock()
        for model in {model for model, *_ in windows}:
            m.last_window_closed.labels(model=model).set(now)
        for model in {r.model for r in results}:
            self._drop_stale(model)

    def _drop_stale(self, model: str) -> None:
        ends = {v: end for (mo, v), end in self._last_end.items() if mo == model}
        newest = max(ends.values())
        for version, end in ends.items():
            if newest - end > self.stale_ms:
                for labels in self._series.pop((model, version), {}):
                    self.metrics.drift_value.remove(*labels)
                    self.metrics.drift_severity.remove(*labels)
                del self._last_end[(model, version)]
