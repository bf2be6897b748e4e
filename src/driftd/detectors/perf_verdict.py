"""Confidence intervals on a window's metric, and the verdict against the baseline's.

A window's metric is judged only when at least ``min_labelled`` of its
predictions are labelled and the baseline states the metric. Its severity
comes from the drop (``baseline - value`` for accuracy-like metrics, ``value -
baseline`` for errors), absolute or relative to the baseline, and the drop
must lie outside the noise: the confidence interval's better end must itself
be worse than the baseline, so a window whose interval still holds the
baseline is ``ok`` however low its point estimate.

Intervals: Wilson's score interval for accuracy (a proportion), a seeded
percentile bootstrap for every other metric.

>>> [round(x, 4) for x in wilson(900, 1000)]
[0.8798, 0.9171]
>>> policy = PerformancePolicy(warning=0.05, critical=0.10)
>>> policy.severity("accuracy", 0.80, 0.90, (0.775, 0.824), n=1000)
'critical'
>>> policy.severity("accuracy", 0.86, 0.90, (0.83, 0.91), n=1000)  # the baseline is inside
'ok'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from driftd.detectors.performance import HIGHER_IS_BETTER

__all__ = ["PerformancePolicy", "bootstrap_interval", "drop", "wilson"]

_TOLERANCE = 1e-9


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    *,
    resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap: ``statistic`` of ``resamples`` index resamples of ``0..n-1``.

    ``None`` when the statistic is undefined on most resamples.

    >>> values = np.arange(100.0)
    >>> lo, hi = bootstrap_interval(lambda i: float(values[i].mean()), 100, seed=1)
    >>> lo < 49.5 < hi
    True
    """
    rng = np.random.default_rng(seed)
    stats = [statistic(rng.integers(0, n, n)) for _ in range(resamples)]
    found = np.array([s for s in stats if s is not None and math.isfinite(s)])
    if len(found) < resamples // 2:
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(found, [tail, 100 - tail])
    return (float(lo), float(hi))


def drop(metric: str, value: float, baseline: float) -> float:
    """How much worse ``value`` is than ``baseline`` (negative when better).

    >>> drop("accuracy", 0.8, 0.9), drop("mae", 1.5, 1.0)
    (0.09999999999999998, 0.5)
    """
    return baseline - value if _base(metric) in HIGHER_IS_BETTER else value - baseline


def _base(metric: str) -> str:
    return metric.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class PerformancePolicy:
    """Thresholds on the drop from the baseline's metric; ``relative`` divides by it."""

    warning: float = 0.05
    critical: float = 0.10
    relative: bool = False
    min_labelled: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.warning <= self.critical:
            raise ValueError(
                f"need 0 < warning <= critical, got warning={self.warning}, "
                f"critical={self.critical}"
            )
        if self.min_labelled < 1:
            raise ValueError(f"min_labelled must be >= 1, got {self.min_labelled}")

    def severity(
        self,
        metric: str,
        value: float,
        baseline: float,
        interval: tuple[float, float] | None,
        *,
        n: int,
    ) -> str:
        """``ok`` | ``warning`` | ``critical`` for one window's metric (``ok`` below
        ``min_labelled`` labels, or while the interval's better end reaches the baseline)."""
        if n < self.min_labelled:
            return "ok"
        if interval is not None:
            best = interval[1] if _base(metric) in HIGHER_IS_BETTER else interval[0]
            if drop(metric, best, baseline) <= 0:
                return "ok"
        size = drop(metric, value, baseline)
        if self.relative:
            size = size / abs(baseline) if baseline else math.inf * (size > 0)
        if size >= self.critical - _TOLERANCE:  # 0.9 - 0.8 is 0.0999…: a drop of 0.10
            return "critical"
        if size >= self.warning - _TOLERANCE:
            return "warning"
        return "ok"
