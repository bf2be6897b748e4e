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

from itertools import count
from operator import itemgetter
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
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

    def update_many(self, values: npt.NDArray[np.float64]) -> list[int]:
        """As :meth:`RiverDetector.update_many` (River's ``update`` one value at a time),
        with the values handed to ADWIN's compiled update by ``map`` up to each change.

        ``ADWIN.update`` is: reset if the last update fired, then ``_helper.update``;
        this does the same, the Python wrapper out of the loop.
        """
        river = self._river
        if not hasattr(river, "_helper"):  # not the River this was written against
            return super().update_many(values)
        present = np.flatnonzero(~np.isnan(values))
        xs = values[present].tolist()
        fired: list[int] = []
        start = 0
        while start < len(xs):
            if river._drift_detected:
                river._reset()
            pulled = count()
            rest = map(itemgetter(0), zip(xs[start:] if start else xs, pulled, strict=False))
            river._drift_detected = any(map(river._helper.update, rest))
            start += next(pulled)  # values fed, the one that fired included
            if river._drift_detected:
                fired.append(int(present[start - 1]))
        self.updates += len(values)
        return fired

    @property
    def estimation(self) -> float:
        """The mean of ADWIN's current window."""
        return float(self._river.estimation)
