"""The two detector shapes, and what a window test sees and says.

A :class:`WindowTest` compares one column of a closed window with the
baseline's profile of that column and returns a :class:`Finding` (or ``None``
when it has nothing to judge). A :class:`StreamDetector` is fed values batch by
batch and reports where a change fired; its state goes to bytes and back so a
restart or a partition move resumes it.

>>> w = ColumnWindow("x", n=10, counts=np.array([3, 5]), nulls=2, mismatches=0)
>>> w.present, w.missing_rate
(8, 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, Self

import numpy as np
import numpy.typing as npt

from driftd.detectors.profiles import Profile

__all__ = ["ColumnKind", "ColumnWindow", "Finding", "StreamDetector", "WindowTest"]

ColumnKind = Literal["numeric", "categorical"]
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class ColumnWindow:
    """One column of one closed window: what the live side of a test sees.

    ``n`` is the number of events in the window; ``counts`` the values in the
    baseline's bins (numeric: deciles; categorical: top-K, "other", "unseen");
    ``grid`` (numeric) the values on the column's grid
    (:func:`driftd.detectors.reference.reference_grid`: the reference sample's
    distinct values, the bin edges, min and max), cell ``2i`` strictly between
    the ``i-1``-th and ``i``-th grid point and cell ``2i + 1`` equal to the
    ``i``-th, which is enough for the exact two-sample KS statistic.
    """

    name: str
    n: int
    counts: Counts
    nulls: int
    mismatches: int
    out_of_range: int = 0
    grid: Counts | None = field(default=None)

    @property
    def present(self) -> int:
        """Values of the expected type in the window."""
        return int(self.counts.sum())

    @property
    def missing_rate(self) -> float:
        return self.nulls / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class Finding:
    """What a test says about one column: a statistic, its p-value and effect size.

    ``p_value`` is ``None`` where the statistic defines none; ``effect_size``
    is on the scale the thresholds use (KS: D; chi-square: total variation
    distance; PSI: PSI; rates: the rate above the baseline's).
    """

    metric: str
    value: float
    p_value: float | None
    effect_size: float


class WindowTest(Protocol):
    """A reference profile and one column's window in, a finding out."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[ColumnKind]]

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None: ...


class StreamDetector(Protocol):
    """Fed in batches; reports the positions (within the batch) where a change fired."""

    name: ClassVar[str]

    def update_many(self, values: npt.NDArray[np.float64]) -> list[int]: ...

    def reset(self) -> None: ...

    def state(self) -> bytes: ...

    @classmethod
    def restore(cls, state: bytes) -> Self: ...
