"""Page-Hinkley (River's implementation) as a :class:`StreamDetector`: an option to ADWIN.

It accumulates deviations from the running mean and fires when they pass
``threshold``; cheap (constant state), sensitive to sustained mean shifts, blind
to variance changes. Choose it with ``window.stream_detector: page_hinkley``.

>>> import numpy as np
>>> detector = PageHinkleyDetector()
>>> rng = np.random.default_rng(42)
>>> fired = detector.update_many(np.r_[rng.normal(0, 0.1, 1000), rng.normal(1, 0.1, 1000)])
>>> 1000 <= fired[0] < 1100
True
"""

from __future__ import annotations

from typing import Any, ClassVar

from river import drift

from driftd.detectors.river_base import RiverDetector

__all__ = ["PageHinkleyDetector"]


class PageHinkleyDetector(RiverDetector):
    """Page-Hinkley with River's parameters (``mode``: up, down or both)."""

    name: ClassVar[str] = "page_hinkley"

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        if min_instances < 1:
            raise ValueError(f"min_instances must be >= 1, got {min_instances}")
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if mode not in ("up", "down", "both"):
            raise ValueError(f"mode must be up, down or both, got {mode!r}")
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        super().__init__(
            min_instances=min_instances, delta=delta, threshold=threshold, alpha=alpha, mode=mode
        )

    def _make(self) -> Any:
        return drift.PageHinkley(
            min_instances=self.min_instances,
            delta=self.delta,
            threshold=self.threshold,
            alpha=self.alpha,
            mode=self.mode,
        )
