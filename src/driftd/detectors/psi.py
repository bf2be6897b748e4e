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

Each term is >= 0 (``a_i - e_i`` and ``ln(a_i / e_i)`` share their sign), so
PSI >= 0, and it is 0 when the smoothed proportions agree. The usual reading:
below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one.

>>> round(psi([0.5, 0.5], [25, 75], pseudocount=0), 6)  # 0.25 ln 2 + 0.25 ln 1.5
0.274653
>>> psi([0.5, 0.5], [50, 50], expected_count=100)
0.0
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["PSI_PSEUDOCOUNT", "psi"]

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
    bins = expected.size
    a = (actual + pseudocount) / (n + pseudocount * bins)
    e = (expected * m + pseudocount) / (m + pseudocount * bins)
    with np.errstate(divide="ignore", invalid="ignore"):  # only when pseudocount == 0
        terms = (a - e) * np.log(a / e)
    terms[a == e] = 0.0
    return float(terms.sum())
