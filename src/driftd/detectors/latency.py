"""Inference latency per window: a fixed log-spaced histogram, mergeable and bounded.

``LATENCY_BINS`` bins from 0.01 ms to 1,000 s, 40 per decade (each bin spans
a factor of ``10 ** (1/40)``, about 5.9%); a quantile is read as the geometric
middle of its bin, so it is within about 3% of the exact value for latencies
in that range. Bin 0 holds everything below the first edge (and 0 ms),
the last bin everything above the last edge.

>>> counts = latency_bins(np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
>>> int(counts.sum())
4
>>> [round(q, 2) for q in latency_quantiles(counts, (0.5,))]
[2.05]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from driftd.detectors.shares import Shares, bincount_by

__all__ = ["LATENCY_BINS", "latency_bins", "latency_quantiles"]

_LOW_MS = 1e-2
_PER_DECADE = 40
_DECADES = 8
LATENCY_BINS = _PER_DECADE * _DECADES + 1
_EDGES = _LOW_MS * 10.0 ** (np.arange(LATENCY_BINS) / _PER_DECADE)


def latency_bins(
    latencies_ms: npt.NDArray[np.float64], shares: Shares | None = None
) -> npt.NDArray[np.int64]:
    """Counts per bin (``LATENCY_BINS + 1`` of them); NaN (no latency) is skipped.

    With ``shares`` (of the latencies' rows), the counts of each share: one row a share.
    """
    keep = ~np.isnan(latencies_ms)
    bins = np.searchsorted(_EDGES, latencies_ms[keep], side="right")
    if shares is None:
        return np.bincount(bins, minlength=LATENCY_BINS + 1)
    return bincount_by(bins, LATENCY_BINS + 1, shares.of(keep), shares.count)


def latency_quantiles(counts: npt.NDArray[np.int64], quantiles: Sequence[float]) -> list[float]:
    """Quantiles (0..1) read from the histogram; ``ValueError`` when it is empty."""
    total = int(counts.sum())
    if total == 0:
        raise ValueError("no latencies in the window")
    cumulative = np.cumsum(counts)
    out = []
    for q in quantiles:
        k = int(np.searchsorted(cumulative, q * total, side="left"))
        if k == 0:
            out.append(_LOW_MS)
        elif k >= LATENCY_BINS:
            out.append(float(_EDGES[-1]))
        else:
            out.append(float(np.sqrt(_EDGES[k - 1] * _EDGES[k])))
    return out
