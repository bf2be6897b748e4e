"""Chi-square test of a categorical window against the baseline's category shares.

The window's counts (top-K categories, "other", "unseen") and the baseline's
(its proportions times its row count) form a 2 x B contingency table; columns
empty on both sides are dropped (an "unseen" column with window counts stays:
the baseline's zero there is evidence). Pearson's statistic without
continuity correction, as ``scipy.stats.chi2_contingency(correction=False)``.
The effect size is the total variation distance between the two share
vectors (half the L1 distance: "how much of the mass moved"), which, unlike
Cramér's V, does not shrink as the baseline grows.

>>> import numpy as np
>>> from driftd.detectors.profiles import CategoricalProfile
>>> ref = CategoricalProfile("c", ["a", "b"], [0.5, 0.5, 0.0], ["a", "b"], 1000, 0.0)
>>> f = ChiSquareTest().judge(ref, ColumnWindow("c", 100, np.array([60, 40, 0, 0]), 0, 0))
>>> round(f.value, 4), round(f.effect_size, 2)
(3.6376, 0.1)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import special

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import CategoricalProfile, Profile
from driftd.detectors.reference import aligned

__all__ = ["ChiSquareTest"]


class ChiSquareTest:
    """Pearson chi-square (2 x B), p-value from the chi-square distribution, TVD effect."""

    name: ClassVar[str] = "chi2"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"categorical"})

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, CategoricalProfile):
            return None
        expected, actual = aligned(reference, window)
        n = float(actual.sum())
        if n == 0:
            return None
        base = expected * reference.count
        keep = (base > 0) | (actual > 0)
        table = np.vstack([actual[keep].astype(np.float64), base[keep]])
        if table.shape[1] < 2:
            return Finding(self.name, 0.0, 1.0, 0.0)
        rows = table.sum(axis=1, keepdims=True)
        cols = table.sum(axis=0, keepdims=True)
        fitted = rows * cols / table.sum()
        statistic = float(((table - fitted) ** 2 / fitted).sum())
        p = float(special.chdtrc(table.shape[1] - 1, statistic))
        tvd = float(0.5 * np.abs(actual / n - expected).sum())
        return Finding(self.name, statistic, p, tvd)
