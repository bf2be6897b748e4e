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

import numpy as np
import numpy.typing as npt

from driftd.detectors.base import ColumnWindow
from driftd.detectors.profiles import CategoricalProfile, Profile

__all__ = ["aligned", "kind_of"]


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
