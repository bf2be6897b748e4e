"""Wasserstein-1 (earth mover's) distance of a window from the reference sample (an option).

From the window's counts on the column's grid
(:func:`driftd.detectors.reference.reference_grid`), with no raw values kept:
``W1 = integral |F_window - F_reference| dx``. Between two grid points the
reference CDF is constant and the window's is known at both ends; the window's
values inside the interval are taken at its middle, which misses the exact
distance by at most half of (that interval's share of the window x its
width), summed: :func:`wasserstein_error_bound`. Values outside the
baseline's [min, max] are taken at the bound (their distance beyond it is not
counted; the out-of-range test reports them). The value is ``W1`` in the
column's units; the effect size ``W1 / std`` of the baseline.

>>> import numpy as np
>>> from driftd.detectors.profiles import NumericProfile
>>> ref = NumericProfile("x", [1.0], [0.5, 0.5], [0.0, 2.0], 2, 0.0, 0.0, 2.0, 1.0, 1.0)
>>> w = ColumnWindow("x", 2, np.array([0, 2]), 0, 0, grid=np.array([0, 0, 0, 0, 0, 2, 0]))
>>> WassersteinTest().judge(ref, w).value  # all of the window at 2.0, half the sample at 0
1.0
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import NumericProfile, Profile
from driftd.detectors.reference import reference_grid

__all__ = ["WassersteinTest", "wasserstein_error_bound", "wasserstein_on_grid"]


def _parts(
    grid: npt.NDArray[np.float64], ref: npt.NDArray[np.int64], window: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    r = np.cumsum(ref) / ref.sum()
    w = np.cumsum(window) / window.sum()
    gaps = np.diff(grid)
    # interval i (grid[i], grid[i+1]): reference at cell 2i+1; window from 2i+1 to 2i+2
    below, above = w[1:-2:2], w[2:-1:2]
    return gaps, np.abs((below + above) / 2 - r[1:-2:2]), above - below


def wasserstein_on_grid(
    grid: npt.NDArray[np.float64], ref: npt.NDArray[np.int64], window: npt.NDArray[np.int64]
) -> float:
    """W1 of two samples counted on the same grid cells (see the module docstring)."""
    gaps, gap_distance, _ = _parts(grid, ref, window)
    return float((gaps * gap_distance).sum())


def wasserstein_error_bound(
    grid: npt.NDArray[np.float64], ref: npt.NDArray[np.int64], window: npt.NDArray[np.int64]
) -> float:
    """How far :func:`wasserstein_on_grid` can be from W1 of the in-range values."""
    gaps, _, inside = _parts(grid, ref, window)
    return float((gaps * inside).sum() / 2)


class WassersteinTest:
    """W1 from the grid counts; no p-value (KS judges significance)."""

    name: ClassVar[str] = "wasserstein"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric"})

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, NumericProfile) or window.grid is None:
            return None
        if window.grid.sum() == 0:
            return None
        grid, ref = reference_grid(reference)
        if ref.shape != window.grid.shape:
            raise ValueError(f"window of {window.name!r} was counted on another grid")
        value = wasserstein_on_grid(grid, ref, window.grid)
        effect = value / reference.std if reference.std > 0 else 0.0
        return Finding(self.name, value, None, effect)
