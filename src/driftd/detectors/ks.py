"""Two-sample Kolmogorov-Smirnov test of a window against the baseline's reference sample.

The window is counted once, vectorised, on the grid of the reference sample's
distinct values (:func:`driftd.detectors.window.grid_counts`); both empirical
CDFs are then known just below and at every grid point, which is where the
supremum of their difference lies, so ``D`` is exact — the same number
``scipy.stats.ks_2samp`` computes from the raw values. The p-value is Smirnov's
asymptotic one, as scipy computes it for large samples:
``scipy.stats.kstwo.sf(D, round(n * m / (n + m)))`` (:func:`ks_sf`).

>>> import numpy as np
>>> from driftd.detectors.profiles import NumericProfile
>>> ref = NumericProfile("x", [0.5], [0.5, 0.5], [0.0, 1.0], 2, 0.0, 0.0, 1.0, 0.5, 0.7)
>>> w = ColumnWindow("x", 2, np.array([0, 2]), 0, 0, grid=np.array([0, 0, 0, 0, 0, 2, 0]))
>>> KSTest().judge(ref, w).value  # all of the window at 1.0: D = 0.5
0.5
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import stats

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import NumericProfile, Profile
from driftd.detectors.reference import reference_grid

__all__ = ["KSTest", "ks_sf", "ks_statistic"]

_CACHED_REFERENCES = 256

try:  # the function behind ``kstwo.sf``, called without the distribution's machinery
    from scipy.stats._ksstats import _kolmogn
except ImportError:  # pragma: no cover - a scipy without it: kstwo.sf itself
    _kolmogn = None


def ks_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, the same number at a third of the cost.

    Inside the distribution's open support ``(1 / 2n, 1)`` it is the function
    ``kstwo.sf`` evaluates there (scipy's ``_kolmogn``), called directly: the
    argument checks and broadcasting of ``rv_continuous`` cost twice the
    computation. At and beyond the support's ends, for ``n < 1`` (a one-value window
    against a one-value sample rounds to 0), and without that function,
    ``kstwo.sf`` itself.

    >>> ks_sf(0.02, 6667) == float(stats.kstwo.sf(0.02, 6667))
    True
    """
    if _kolmogn is not None and n >= 1 and 0.5 / n < d < 1.0:
        return float(_kolmogn(n, d, cdf=False))
    return float(stats.kstwo.sf(d, n))


def ks_statistic(
    reference_cells: npt.NDArray[np.int64], window_cells: npt.NDArray[np.int64]
) -> float:
    """``D`` from two samples counted on the same grid cells."""
    r = np.cumsum(reference_cells) / reference_cells.sum()
    w = np.cumsum(window_cells) / window_cells.sum()
    return float(np.abs(r - w).max())


class KSTest:
    """KS ``D`` (the effect size) and its asymptotic p-value, numeric columns only."""

    name: ClassVar[str] = "ks"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric"})

    def __init__(self) -> None:
        self._cells: dict[int, tuple[NumericProfile, npt.NDArray[np.int64]]] = {}

    def reference_cells(self, reference: NumericProfile) -> npt.NDArray[np.int64]:
        """The reference sample on the column's grid (odd cells: multiplicities); cached."""
        cached = self._cells.get(id(reference))
        if cached is not None and cached[0] is reference:
            return cached[1]
        _, cells = reference_grid(reference)
        if len(self._cells) >= _CACHED_REFERENCES:  # bounded: oldest baseline out first
            del self._cells[next(iter(self._cells))]
        self._cells[id(reference)] = (reference, cells)
        return cells

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, NumericProfile) or window.grid is None:
            return None
        n = int(window.grid.sum())
        if n == 0:
            return None
        ref = self.reference_cells(reference)
        if ref.shape != window.grid.shape:
            raise ValueError(f"window of {window.name!r} was counted on another grid")
        d = ks_statistic(ref, window.grid)
        m = len(reference.sample)
        p = ks_sf(d, round(n * m / (n + m)))
        return Finding(self.name, d, min(max(p, 0.0), 1.0), d)
