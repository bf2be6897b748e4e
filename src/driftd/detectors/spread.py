"""Has the spread changed? The window's share in the baseline's tails.

KS barely sees a variance change (a variance x1.5 moves ``D`` by about 0.05),
and the sample variance is at the mercy of one extreme value in heavy-tailed
columns, so the spread gets a distribution-free test of its own, on the
baseline's bins: the *tails* are the outer bins below the baseline's 25th and
above its 75th percentile (with deciles: the outer two bins on each side,
about 40% of the baseline, ``p0`` exactly). A wider distribution puts more of
the window there, a narrower one less. Two-proportion z-test of the window's
share ``p`` against ``p0``, the baseline's uncertainty included::

    z = (p - p0) / sqrt(p0 * (1 - p0) * (1/n + 1/M))

two-sided p-value; the value is ``p``, the effect size ``|p - p0|``.

>>> import numpy as np
>>> from driftd.detectors.profiles import NumericProfile
>>> ref = NumericProfile("x", [-1.0, 0.0, 1.0], [0.2, 0.3, 0.3, 0.2], [0.0], 1000, 0.0,
...                      -3.0, 3.0, 0.0, 1.0)
>>> f = SpreadTest().judge(ref, ColumnWindow("x", 100, np.array([30, 20, 20, 30]), 0, 0))
>>> round(f.value, 2), round(f.effect_size, 2), f.p_value < 0.05
(0.6, 0.2, True)
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import NumericProfile, Profile
from driftd.detectors.reference import PerReference

__all__ = ["SpreadTest", "tail_bins"]

_LOW, _HIGH = 0.25, 0.75


def tail_bins(proportions: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Bins wholly below the 25th or above the 75th percentile of the baseline.

    >>> tail_bins([0.1] * 10).tolist()
    [True, True, False, False, False, False, False, False, True, True]
    """
    p = np.asarray(proportions, dtype=np.float64)
    upper = np.cumsum(p)
    lower = upper - p
    return (upper <= _LOW + 1e-9) | (lower >= _HIGH - 1e-9)


def _tails(reference: NumericProfile) -> tuple[npt.NDArray[np.bool_] | None, float]:
    """The reference's tail bins and its share there (``None``, 0: too few distinct
    values for two tails)."""
    bins = tail_bins(reference.proportions)
    upper = np.cumsum(reference.proportions)
    if not (bins & (upper <= 0.5)).any() or not (bins & (upper > 0.5)).any():
        return None, 0.0
    return bins, float(np.asarray(reference.proportions)[bins].sum())


class SpreadTest:
    """Share of the window in the baseline's tails; numeric columns with both tails."""

    name: ClassVar[str] = "spread"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric"})

    def __init__(self) -> None:
        self.tails = PerReference(_tails)
        """The reference's tail bins (``None`` without both tails) and its share there,
        ``p0``; computed once per reference."""

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, NumericProfile):
            return None
        tails, p0 = self.tails(reference)
        if tails is None:
            return None
        n = window.present
        if n == 0:
            return None
        share = float(window.counts[tails].sum()) / n
        spread = math.sqrt(p0 * (1 - p0) * (1 / n + 1 / reference.count))
        p = float(special.erfc(abs(share - p0) / spread / math.sqrt(2)))
        return Finding(self.name, share, p, abs(share - p0))
