"""Two-sample Kolmogorov-Smirnov test of a window against the baseline's reference sample.

The window is counted once, vectorised, on the grid of the reference sample's
distinct values (:func:`driftd.detectors.window.grid_counts`); both empirical
CDFs are then known just below and at every grid point, which is where the
supremum of their difference lies, so ``D`` is exact — the same number
``scipy.stats.ks_2samp`` computes from the raw values. The p-value is Smirnov's
asymptotic one, as scipy computes it for large samples:
``scipy.stats.kstwo.sf(D, round(n * m / (n + m)))`` (:func:`ks_sf`), with its
tail (a drifted column) summed in numpy (:func:`smirnov_sf`).

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
from scipy import special, stats

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import NumericProfile, Profile
from driftd.detectors.reference import reference_grid

__all__ = ["KSTest", "ks_sf", "ks_statistic", "smirnov_sf"]

_CACHED_REFERENCES = 256

try:  # the function behind ``kstwo.sf``, called without the distribution's machinery
    from scipy.stats._ksstats import _kolmogn
except ImportError:  # pragma: no cover - a scipy without it: kstwo.sf itself
    _kolmogn = None


_SMIRNOV_TAIL = 2.2
"""``n * d**2`` from which scipy's ``kstwo.sf`` (for ``n > 140``, ``d < 0.5``) is twice
the one-sided tail ``smirnov(n, d)``; from ``_SMIRNOV_ZERO`` on it is 0."""
_SMIRNOV_ZERO = 370.0
_SMIRNOV_TERMS = 100_000
"""Above this ``n`` the tail is left to scipy: ``log C(n, j)`` from ``gammaln`` loses
~``eps * n log n``, more than 1e-9 relative past a few hundred thousand."""


def ks_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: the same number, at a fraction of the cost.

    Inside the distribution's open support ``(1 / 2n, 1)`` it is the function
    ``kstwo.sf`` evaluates there (scipy's ``_kolmogn``), called directly: the
    argument checks and broadcasting of ``rv_continuous`` cost twice the
    computation. In its tail (``140 < n <= 100,000``, ``d < 0.5``, ``n * d**2`` from 2.2 to
    370: where a drifted column's ``D`` lies), ``_kolmogn`` is
    ``2 * scipy.special.smirnov(n, d)``, an ``n``-term sum scipy adds one term at a
    time in double-double arithmetic (~8 ms for ``n = 6,667``, once per drifted
    column and window); :func:`smirnov_sf` adds the same terms in numpy (~0.4 ms),
    equal to 1e-9 relative. At and beyond the support's ends, for ``n < 1`` (a
    one-value window against a one-value sample rounds to 0), and without that
    function, ``kstwo.sf`` itself.

    >>> ks_sf(0.005, 6667) == float(stats.kstwo.sf(0.005, 6667))
    True
    >>> bool(np.isclose(ks_sf(0.02, 6667), stats.kstwo.sf(0.02, 6667), rtol=1e-9, atol=0))
    True
    """
    if _kolmogn is not None and n >= 1 and 0.5 / n < d < 1.0:
        tail = n * d * d
        if 140 < n <= _SMIRNOV_TERMS and d < 0.5 and n * d > 1.0 and tail >= _SMIRNOV_TAIL:
            return 0.0 if tail >= _SMIRNOV_ZERO else min(2.0 * smirnov_sf(n, d), 1.0)
        return float(_kolmogn(n, d, cdf=False))
    return float(stats.kstwo.sf(d, n))


def smirnov_sf(n: int, d: float) -> float:
    """``scipy.special.smirnov(n, d)``: ``P(D+ >= d)`` of ``n`` values, ``0 < d < 1``.

    The Birnbaum-Tingey sum ``d * sum_j C(n, j) (1 - d - j/n)**(n - j) (d + j/n)**(j - 1)``
    over ``j = 0 .. floor(n (1 - d))``, every term in logs (``gammaln``) and added from
    the largest: its terms are all positive, so nothing cancels.

    >>> bool(np.isclose(smirnov_sf(1000, 0.05), special.smirnov(1000, 0.05), rtol=1e-9))
    True
    """
    j = np.arange(int(np.floor(n * (1.0 - d))) + 1, dtype=np.float64)
    rest = np.maximum(1.0 - d - j / n, 0.0)  # 0 (not a rounding below it) at the last j
    with np.errstate(divide="ignore"):  # log(0): a term of 0
        logs = (
            special.gammaln(n + 1.0)
            - special.gammaln(j + 1.0)
            - special.gammaln(n - j + 1.0)
            + (n - j) * np.log(rest)
            + (j - 1.0) * np.log(d + j / n)
        )
    top = float(logs.max())
    return float(d * np.exp(top) * np.exp(logs - top).sum())


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
