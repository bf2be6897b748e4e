"""ADWIN (adaptive windowing, River's implementation) as a :class:`StreamDetector`.

Fed a batch at a time (see :class:`~driftd.detectors.river_base.RiverDetector`).
ADWIN keeps exponential histograms: its state is a few hundred bytes and grows
with the log of the stream; at ~6M updates/s it can watch every event.

>>> import numpy as np
>>> detector = ADWINDetector()
>>> rng = np.random.default_rng(42)
>>> fired = detector.update_many(np.r_[rng.normal(0, 0.1, 1000), rng.normal(1, 0.1, 1000)])
>>> 1000 <= fired[0] < 1100
True
>>> ADWINDetector.restore(detector.state()).state() == detector.state()
True
"""

from __future__ import annotations

from typing import Any, ClassVar

from river import drift

from driftd.detectors.river_base import RiverDetector

__all__ = ["ADWINDetector"]


class ADWINDetector(RiverDetector):
    """ADWIN with River's parameters; ``delta`` is its confidence (smaller: fewer alarms)."""

    name: ClassVar[str] = "adwin"

    def __init__(self, delta: float = 0.002, grace_period: int = 10) -> None:
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if grace_period < 1:
            raise ValueError(f"grace_period must be >= 1, got {grace_period}")
        self.delta = delta
        self.grace_period = grace_period
        super().__init__(delta=delta, grace_period=grace_period)

    def _make(self) -> Any:
        return drift.ADWIN(delta=self.delta, grace_period=self.grace_period)  # type: ignore[no-untyped-call]

    @property
    def estimation(self) -> float:
        """The mean of ADWIN's current window."""
        return float(self._river.estimation)
