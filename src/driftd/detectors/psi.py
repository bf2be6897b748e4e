"""Population Stability Index (PSI) over fixed bins, with additive smoothing.

Over ``B`` bins fixed from the baseline::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

    a_i = (c_i + alpha) / (N + alpha * B)     c_i: the window's count in bin i, N = sum c_i
    e_i = (p_i * M + alpha) / (M + alpha * B) p_i: the baseline proportion, M: its count

with ``alpha = PSI_PSEUDOCOUNT = 0.5`` added to every bin's count on both sides.

Why a pseudo-count and not an epsilon: a tiny epsilon standing in for an empty
bin puts ``ln(a / epsilon)`` in the sum, so the epsilon, not the data, sets the
result (one library reports PSI = 134.95 where fair smoothing gives about 2).
A pseudo-count is half an observation, scaled to each side's sample size: an
empty bin in a window of 1,000 events counts as about 0.05%, in a window of
100 as 0.5% — what that much data can tell apart from zero. ``0.5`` is the
Jeffreys (Krichevsky-Trofimov) prior. The baseline is smoothed the same way
relative to its own count ``M``, so a bin it never saw (a category unseen in
training) has a small, finite expected mass; every bin is smoothed alike so
the proportions still sum to one.

Bins empty on both sides (a category the baseline never saw and the window
did not see either, an "other" bin the baseline left empty) are dropped before
smoothing: a pseudo-count there would be half an observation in a window of
``N`` against half of one in ``M``, which puts a floor of about
``0.5/N * ln(M/N)`` per such bin under PSI, and that floor grows as windows
shrink (at 100 events, two such bins alone gave PSI >= 0.06).

Each term is >= 0 (``a_i - e_i`` and ``ln(a_i / e_i)`` share their sign), so
PSI >= 0, and it is 0 when the smoothed proportions agree. The usual reading:
below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one.

>>> round(psi([0.5, 0.5], [25, 75], pseudocount=0), 6)  # 0.25 ln 2 + 0.25 ln 1.5
0.274653
>>> psi([0.5, 0.5], [50, 50], expected_count=100)
0.0
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import Profile
from driftd.detectors.reference import PerReference, aligned

__all__ = ["PSI_PSEUDOCOUNT", "PSITest", "psi", "psi_p_value"]

PSI_PSEUDOCOUNT = 0.5
"""Pseudo-count added to every bin, live and expected (see the module docstring)."""

_SUM_TOLERANCE = 1e-6


def psi(
    expected_proportions: npt.ArrayLike,
    actual_counts: npt.ArrayLike,
    *,
    expected_count: float | None = None,
    pseudocount: float = PSI_PSEUDOCOUNT,
) -> float:
    """PSI of a window's bin counts against the baseline's bin proportions.

    ``expected_count`` is the number of baseline values behind the proportions
    (``M``); ``None`` smooths both sides as if the baseline were as large as
    the window. Raises ``ValueError`` on mismatched shapes, negative inputs,
    proportions that do not sum to 1, or an empty window (no PSI to compute).
    """
    expected = np.asarray(expected_proportions, dtype=np.float64)
    actual = np.asarray(actual_counts, dtype=np.float64)
    if expected.ndim != 1 or expected.shape != actual.shape or expected.size == 0:
        raise ValueError(
            f"expected_proportions {expected.shape} and actual_counts {actual.shape} "
            "must be non-empty 1-D arrays of the same length"
        )
    if pseudocount < 0:
        raise ValueError(f"pseudocount must be >= 0, got {pseudocount}")
    if (expected < 0).any() or abs(expected.sum() - 1.0) > _SUM_TOLERANCE:
        raise ValueError("expected_proportions must be >= 0 and sum to 1")
    if (actual < 0).any():
        raise ValueError("actual_counts must be >= 0")
    n = float(actual.sum())
    if n <= 0:
        raise ValueError("actual_counts sum to 0: an empty window has no PSI")
    m = n if expected_count is None else float(expected_count)
    if m <= 0:
        raise ValueError(f"expected_count must be > 0, got {expected_count}")
    return _psi(expected, actual, n, m, pseudocount)[0]


def _psi(
    expected: npt.NDArray[np.float64],
    actual: npt.NDArray[np.float64],
    n: float,
    m: float,
    pseudocount: float,
) -> tuple[float, int]:
    """PSI of validated inputs (``n``: the sum of ``actual``), and the bins it kept."""
    keep = (expected > 0) | (actual > 0)
    expected, actual = expected[keep], actual[keep]
    bins = expected.size
    a = (actual + pseudocount) / (n + pseudocount * bins)
    e = (expected * m + pseudocount) / (m + pseudocount * bins)
    with np.errstate(divide="ignore", invalid="ignore"):  # only when pseudocount == 0
        terms = (a - e) * np.log(a / e)
    terms[a == e] = 0.0
    return float(terms.sum()), bins


def psi_p_value(value: float, bins: int, n: float, m: float) -> float:
    """Approximate p-value of a PSI under "same distribution".

    PSI is the symmetric (Jeffreys) divergence of the two histograms; for two
    samples of sizes ``n`` and ``m`` drawn from one distribution,
    ``PSI * n * m / (n + m)`` is approximately chi-square with ``bins - 1``
    degrees of freedom (both are second-order equal to Pearson's statistic).

    >>> round(psi_p_value(0.0, 10, 1000, 50000), 3)
    1.0
    >>> psi_p_value(0.25, 10, 1000, 50000) < 1e-30
    True
    """
    if bins < 2:
        return 1.0
    return float(special.chdtrc(bins - 1, value * n * m / (n + m)))


def _valid_reference(reference: Profile) -> bool:
    """Whether the reference's proportions and count are what :func:`psi` accepts
    (checked once per reference: they do not depend on the window)."""
    expected = np.asarray(reference.proportions, dtype=np.float64)
    return bool(
        expected.ndim == 1
        and expected.size > 0
        and not (expected < 0).any()
        and abs(expected.sum() - 1.0) <= _SUM_TOLERANCE
        and reference.count > 0
    )


class PSITest:
    """PSI over the baseline's bins, with a p-value from its chi-square approximation.

    >>> from driftd.detectors.profiles import CategoricalProfile
    >>> ref = CategoricalProfile("c", ["a", "b"], [0.5, 0.5, 0.0], None, 1000, 0.0)
    >>> w = ColumnWindow("c", 100, np.array([50, 50, 0, 0]), 0, 0)
    >>> PSITest().judge(ref, w)
    Finding(metric='psi', value=0.0, p_value=1.0, effect_size=0.0)
    """

    name: ClassVar[str] = "psi"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric", "categorical"})

    def __init__(self, pseudocount: float = PSI_PSEUDOCOUNT) -> None:
        if pseudocount < 0:
            raise ValueError(f"pseudocount must be >= 0, got {pseudocount}")
        self.pseudocount = pseudocount
        self._valid = PerReference(_valid_reference)

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        expected, actual = aligned(reference, window)
        n = float(actual.sum())
        if n == 0:
            return None
        if not self._valid(reference) or expected.shape != actual.shape:  # psi says why
            psi(expected, actual, expected_count=reference.count, pseudocount=self.pseudocount)
        elif (actual < 0).any():
            raise ValueError("actual_counts must be >= 0")
        m = float(reference.count)
        value, bins = _psi(expected, actual.astype(np.float64), n, m, self.pseudocount)
        return Finding(self.name, value, psi_p_value(value, bins, n, reference.count), value)
