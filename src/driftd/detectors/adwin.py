"""ADWIN (adaptive windowing, River's implementation) as a :class:`StreamDetector`.

Fed a batch at a time; River's ``drift_detected`` is true for one update
only, so it is read after every single update and the positions where it
fired are returned. The state is River's detector pickled (a few hundred bytes:
ADWIN keeps exponential histograms, its memory grows with the log of the
stream), which a checkpoint stores so a restart resumes mid-stream.

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

import pickle
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt
from river import drift

__all__ = ["ADWINDetector"]


class ADWINDetector:
    """ADWIN with River's parameters; ``delta`` is its confidence (smaller: fewer alarms)."""

    name: ClassVar[str] = "adwin"

    def __init__(self, delta: float = 0.002, grace_period: int = 10) -> None:
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if grace_period < 1:
            raise ValueError(f"grace_period must be >= 1, got {grace_period}")
        self.delta = delta
        self.grace_period = grace_period
        self._reset()

    def _reset(self) -> None:
        self._adwin = drift.ADWIN(  # type: ignore[no-untyped-call]
            delta=self.delta, grace_period=self.grace_period
        )
        self.updates = 0

    def reset(self) -> None:
        self._reset()

    @property
    def estimation(self) -> float:
        """The mean of ADWIN's current window."""
        return float(self._adwin.estimation)

    def update_many(self, values: npt.NDArray[np.float64]) -> list[int]:
        fired = []
        adwin = self._adwin
        for i, x in enumerate(values[~np.isnan(values)].tolist()):
            adwin.update(x)  # type: ignore[no-untyped-call]
            if adwin.drift_detected:
                fired.append(i)
        self.updates += len(values)
        return fired

    def state(self) -> bytes:
        return pickle.dumps((self.delta, self.grace_period, self.updates, self._adwin))

    @classmethod
    def restore(cls, state: bytes) -> Self:
        delta, grace, updates, adwin = pickle.loads(state)
        detector = cls(delta, grace)
        detector._adwin, detector.updates = adwin, updates
        return detector
