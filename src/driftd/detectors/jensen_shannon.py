"""Jensen-Shannon distance between a window's bin shares and the baseline's (an option).

Base-2 logarithms, so the distance lies in [0, 1]; no smoothing is needed (the
mixture is never zero where either side has mass). Same number as
``scipy.spatial.distance.jensenshannon(p, q, base=2)``.

>>> import numpy as np
>>> from driftd.detectors.profiles import CategoricalProfile
>>> ref = CategoricalProfile("c", ["a"], [1.0, 0.0], ["a"], 10, 0.0)
>>> JensenShannonTest().judge(ref, ColumnWindow("c", 4, np.array([0, 0, 4]), 0, 0)).value
1.0
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import Profile
from driftd.detectors.reference import aligned

__all__ = ["JensenShannonTest", "js_distance"]


def _kl(p: npt.NDArray[np.float64], m: npt.NDArray[np.float64]) -> float:
    mask = p > 0
    return float((p[mask] * np.log2(p[mask] / m[mask])).sum())


def js_distance(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    """sqrt of the Jensen-Shannon divergence (base 2) of two share vectors."""
    m = (p + q) / 2
    return float(np.sqrt(max(0.0, (_kl(p, m) + _kl(q, m)) / 2)))


class JensenShannonTest:
    """JS distance over the baseline's bins; no p-value (use PSI or KS for significance)."""

    name: ClassVar[str] = "js"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric", "categorical"})

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        expected, actual = aligned(reference, window)
        n = float(actual.sum())
        if n == 0:
            return None
        value = js_distance(actual / n, expected)
        return Finding(self.name, value, None, value)
