"""A labelled stream for the performance tests and bench: predictions, outcomes, a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftd.baselines import create_baseline
from driftd.events import Coordinates, OutcomeRecord, PredictionRecord
from driftd.monitoring.results import WindowResult
from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol

T0 = 1_800_000_000_000  # ahead of today, so the raw-event TTL keeps every row
STEP_MS = 1_000  # one prediction a second: a window of 1,000 s holds 1,000 predictions


class Clock:
    """A settable clock (``now_ms``), called like :func:`time.time`."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        return self.now_ms / 1000


class Collect:
    """A sink keeping what is published."""

    def __init__(self) -> None:
        self.results: list[WindowResult] = []

    def publish(self, results: list[WindowResult]) -> None:
        self.results.extend(results)


def stream(
    n: int, accuracy: float | list[float], seed: int = 0
) -> tuple[list[PredictionRecord], list[OutcomeRecord]]:
    """``n`` binary predictions (``yes``/``no`` with probabilities) and their outcomes;
    ``accuracy`` per event, or one value for all. Outcome ``i`` is received with its
    prediction (``T0 + i`` s); callers move it."""
    rng = np.random.default_rng(seed)
    acc = np.full(n, accuracy) if isinstance(accuracy, float) else np.asarray(accuracy)
    says_yes = rng.random(n) < 0.4
    right = rng.random(n) < acc
    confidence = rng.uniform(0.55, 0.95, n)
    predictions, outcomes = [], []
    for i in range(n):
        ts = T0 + i * STEP_MS
        p_yes = confidence[i] if says_yes[i] else 1 - confidence[i]
        truth = says_yes[i] == right[i]
        predictions.append(
            PredictionRecord(
                f"p{i}",
                "m",
                "",
                ts,
                ts,
                f"r{i}",
                {"x": float(i % 7)},
                {},
                [],
                p_yes,
                "yes" if says_yes[i] else "no",
                {"yes": p_yes, "no": 1 - p_yes},
                {"region": "eu" if i % 3 else "us"},
                None,
                Coordinates("driftd.predictions", 0, i),
            )
        )
        outcomes.append(
            OutcomeRecord(f"o{i}", "m", f"r{i}", ts, ts, None, "yes" if truth else "no")
        )
    return predictions, outcomes


def add_baseline(
    store: EventStoreProtocol, control: ControlStoreProtocol, **metrics: float
) -> None:
    """Baseline ``m``/``v1`` (a small frame) stating validation ``metrics``."""
    frame = pd.DataFrame({"x": np.arange(200) % 7, "score": np.linspace(0, 1, 200)})
    create_baseline(store, control, frame, "m", "v1", prediction="score", metrics=metrics)
