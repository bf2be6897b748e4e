"""What River's drift detectors share as :class:`StreamDetector`\\ s: batch feeding, state.

River's ``drift_detected`` is true for one ``update()`` only, so it is read after
every single update and the positions (in the batch given, NaN included) where it
fired are returned. The state is River's detector pickled with the wrapper's
parameters; a checkpoint stores it so a restart resumes mid-stream. Checkpoints
live in driftd's own control store, which only driftd writes (pickle must never
read bytes from anywhere else), and a River upgrade that changes a detector's
attributes makes old checkpoints unreadable: the detector then starts afresh.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

__all__ = ["RiverDetector"]


class RiverDetector(ABC):
    """Base of the River-backed stream detectors; subclasses build the River object."""

    name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self._reset()

    @abstractmethod
    def _make(self) -> Any:
        """A fresh River detector with this wrapper's parameters."""

    def _reset(self) -> None:
        self._river = self._make()
        self.updates = 0

    def reset(self) -> None:
        self._reset()

    def update_many(self, values: npt.NDArray[np.float64]) -> list[int]:
        """Feed ``values`` in order (NaN skipped); positions in ``values`` where drift fired."""
        fired = []
        river = self._river
        present = np.flatnonzero(~np.isnan(values))
        for i, x in zip(present.tolist(), values[present].tolist(), strict=True):
            river.update(x)
            if river.drift_detected:
                fired.append(i)
        self.updates += len(values)
        return fired

    def state(self) -> bytes:
        return pickle.dumps((self.params, self.updates, self._river))

    @classmethod
    def restore(cls, state: bytes) -> Self:
        params, updates, river = pickle.loads(state)
        detector = cls(**params)
        detector._river, detector.updates = river, updates
        return detector
