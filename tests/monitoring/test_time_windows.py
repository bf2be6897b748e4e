"""Time windows, and partial windows closed by the idle timeout (they used to never close)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from driftd.events import PredictionRecord
from driftd.monitoring import DriftMonitor, Ticker, WindowResult

from .helpers import Stores, prediction, stores_with


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Collect:
    def __init__(self) -> None:
        self.results: list[WindowResult] = []

    def publish(self, results: Sequence[WindowResult]) -> None:
        self.results.extend(results)

    def windows(self) -> list[tuple[int, int]]:
        return sorted({(r.window_id, r.n) for r in self.results})


def records(n: int, *, start: int = 0, step_ms: int = 1_000) -> list[PredictionRecord]:
    rng = np.random.default_rng(start)
    return [prediction(i, timestamp_ms=i * step_ms, num={"x": float(rng.normal())})
            for i in range(start, start + n)]  # fmt: skip


@pytest.fixture
def stores() -> Stores:
    return stores_with(pd.DataFrame({"x": np.random.default_rng(0).normal(size=5_000)}))


def test_a_partial_window_closes_after_the_idle_timeout(stores) -> None:  # type: ignore[no-untyped-def]
    clock, sink = Clock(), Collect()
    monitor = DriftMonitor(*stores, window_size=1_000, clock=clock, sinks=[sink],
                           idle_timeout_s=60)  # fmt: skip
    assert monitor.process(records(1_150)) == 1
    clock.now += 59
    assert monitor.tick() == 0
    clock.now += 1
    assert monitor.tick() == 1  # no further event arrived
    assert sink.windows() == [(0, 1_000), (1, 150)]
    assert {r.severity for r in sink.results if r.window_id == 1} == {"ok"}  # too small to judge
    assert monitor.tick() == 0


def test_time_windows_tumble_on_event_time_and_resume_after_a_restart(stores) -> None:  # type: ignore[no-untyped-def]
    clock, sink = Clock(), Collect()
    # one event per second, windows of a minute: 0-59 s, 60-119 s, ...
    first = DriftMonitor(*stores, clock=clock, sinks=[sink], duration_s=60)
    first.process(records(90))  # window 0 closes when the event at 60 s arrives
    assert sink.windows() == [(0, 60)]
    again = DriftMonitor(*stores, clock=clock, sinks=[sink], duration_s=60)  # a restart
    again.process(records(110, start=80))  # 80..89 are redeliveries, not counted twice
    assert sink.windows() == [(0, 60), (1, 60), (2, 60)]
    ends = {r.window_id: (r.window_start_ms, r.window_end_ms) for r in sink.results}
    assert ends[1] == (60_000, 119_000) and ends[2] == (120_000, 179_000)


def test_the_ticker_closes_idle_windows_on_its_own(stores) -> None:  # type: ignore[no-untyped-def]
    sink = Collect()
    monitor = DriftMonitor(*stores, window_size=1_000, sinks=[sink], idle_timeout_s=0.05)
    monitor.process(records(300))
    ticker = Ticker(monitor, interval_s=0.01)
    ticker.start()
    try:
        deadline = time.monotonic() + 30
        while not sink.results and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        ticker.stop()
    assert sink.windows() == [(0, 300)]


def test_constructor_refuses_bad_durations(stores) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="duration_s"):
        DriftMonitor(*stores, duration_s=0)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        DriftMonitor(*stores, idle_timeout_s=-1)
