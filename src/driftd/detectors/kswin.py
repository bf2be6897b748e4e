"""KSWIN (Kolmogorov-Smirnov windowing, River's implementation) as a :class:`StreamDetector`.

It runs a two-sample KS test between the newest ``stat_size`` values and a
random sample of the older ones in a sliding window, on every update: about
4,400 updates/s, so it suits a low-volume stream (one model's prediction at a
few events a second), not every event of a busy model. An option to ADWIN
(``window.stream_detector: kswin``); the window tests' vectorised KS is the
volume choice. Seeded, so a restart replays the same decisions.

>>> import numpy as np
>>> detector = KSWINDetector()
>>> rng = np.random.default_rng(42)
>>> fired = detector.update_many(np.r_[rng.normal(0, 0.1, 300), rng.normal(1, 0.1, 300)])
>>> 300 <= fired[0] < 400
True
"""

from __future__ import annotations

from typing import Any, ClassVar

from river import drift

from driftd.detectors.river_base import RiverDetector

__all__ = ["KSWINDetector"]


class KSWINDetector(RiverDetector):
    """KSWIN with River's parameters and a fixed ``seed``."""

    name: ClassVar[str] = "kswin"

    def __init__(
        self, alpha: float = 0.005, window_size: int = 100, stat_size: int = 30, seed: int = 0
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if not 0 < stat_size < window_size:
            raise ValueError(f"need 0 < stat_size < window_size, got {stat_size}, {window_size}")
        self.alpha = alpha
        self.window_size = window_size
        self.stat_size = stat_size
        self.seed = seed
        super().__init__(alpha=alpha, window_size=window_size, stat_size=stat_size, seed=seed)

    def _make(self) -> Any:
        return drift.KSWIN(
            alpha=self.alpha, window_size=self.window_size, stat_size=self.stat_size, seed=self.seed
        )
