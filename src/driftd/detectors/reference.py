"""The baseline side of a window test: expected proportions aligned with a window's bins.

A categorical window has one bin more than its profile ("unseen", which the
baseline holds none of by definition); a profile with neither a known set nor
a filter of seen categories cannot tell unseen from other, so that bin stays
empty and is dropped.

>>> from driftd.detectors.profiles import CategoricalProfile
>>> ref = CategoricalProfile("c", ["a"], [0.75, 0.25], ["a", "b"], 100, 0.0)
>>> w = ColumnWindow("c", 10, np.array([6, 3, 1]), 0, 0)
>>> [a.tolist() for a in aligned(ref, w)]
[[0.75, 0.25, 0.0], [6, 3, 1]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from driftd.detectors.base import ColumnWindow
from driftd.detectors.profiles import CategoricalProfile, NumericProfile, Profile

__all__ = ["PerReference", "aligned", "kind_of", "reference_grid"]

P = TypeVar("P")
T = TypeVar("T")
_CACHED_REFERENCES = 256


class PerReference(Generic[P, T]):
    """``make(reference)``, computed once per reference profile object: what a window
    test needs of a baseline alone (a KS grid and CDF, the spread test's tails).

    Keyed by the profile's ``id`` and holding the profile, so the id cannot be
    reused while its entry lives; at most ``size`` profiles, the oldest baseline
    dropped first. Window tests judge under the monitor's lock: one thread at a time.

    >>> calls = []
    >>> double = PerReference(lambda xs: calls.append(1) or [2 * x for x in xs], size=1)
    >>> a, b = [1], [1]
    >>> double(a), double(a), double(b), double(a), len(calls)
    ([2], [2], [2], [2], 3)
    """

    def __init__(self, make: Callable[[P], T], size: int = _CACHED_REFERENCES) -> None:
        self._make = make
        self._size = size
        self._entries: dict[int, tuple[P, T]] = {}

    def __call__(self, reference: P) -> T:
        cached = self._entries.get(id(reference))
        if cached is not None and cached[0] is reference:
            return cached[1]
        value = self._make(reference)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[id(reference)] = (reference, value)
        return value


def kind_of(profile: Profile) -> str:
    """``"numeric"`` or ``"categorical"``."""
    return profile.kind


def aligned(
    reference: Profile, window: ColumnWindow
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Expected proportions and the window's counts over the same bins."""
    expected = np.asarray(reference.proportions, dtype=np.float64)
    actual = window.counts
    if isinstance(reference, CategoricalProfile):
        if reference.known is None and reference.seen is None:
            actual = actual[:-1]
        else:
            expected = np.append(expected, 0.0)
    if expected.shape != actual.shape:
        raise ValueError(
            f"window of {window.name!r} has {actual.size} bins, its baseline {expected.size}"
        )
    return expected, actual


def reference_grid(
    profile: NumericProfile,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The grid a numeric column's window is counted on, and the reference sample on it.

    The grid holds the reference sample's distinct values, the bin edges and
    the baseline's min and max, sorted; the second array is the reference
    sample counted on its ``2 * len(grid) + 1`` cells (see
    :func:`driftd.detectors.window.grid_counts`): its multiplicity at each
    "equal" cell (0 at an edge or bound it does not hold). With the edges and
    bounds on the grid, one count of a window on it also gives its decile bins
    and its out-of-range count.

    >>> p = NumericProfile("x", [1.5], [0.5, 0.5], [1.0, 2.0, 2.0], 3, 0.0, 0.5, 3.0, 1.6, 0.6)
    >>> grid, cells = reference_grid(p)
    >>> grid.tolist(), cells.tolist()
    ([0.5, 1.0, 1.5, 2.0, 3.0], [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
    """
    sample = np.asarray(profile.sample, dtype=np.float64)
    points = np.concatenate([sample, profile.edges, [profile.min, profile.max]])
    grid = np.unique(points)
    cells = np.zeros(2 * grid.size + 1, np.int64)
    values, multiplicity = np.unique(sample, return_counts=True)
    cells[2 * np.searchsorted(grid, values) + 1] = multiplicity
    return grid, cells
