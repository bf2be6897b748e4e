"""Data quality of a window against the baseline: each rate is a finding like any other.

* ``missing_rate``: nulls (absent, null or NaN) per event, against the
  baseline's null rate; one-sided binomial p-value (more missing than the
  baseline), effect = the rate minus the baseline's. A feature that stops
  arriving is a missing rate of 1, never a gap in the results.
* ``type_mismatch``: values of the wrong type (a number where the baseline has
  strings, ...) per event; the baseline has none by construction, so the
  rate is the effect. A feature that changed type is a rate of 1.
* ``unseen``: values of a category the baseline never saw, per value present.
* ``out_of_range``: numeric values outside the baseline's [min, max], per
  value present; against the ``2 / (M + 1)`` a new value from the training
  distribution itself falls outside its sample range, one-sided binomial.

>>> import numpy as np
>>> from driftd.detectors.profiles import CategoricalProfile
>>> ref = CategoricalProfile("c", ["a"], [1.0, 0.0], ["a"], 100, 0.1)
>>> w = ColumnWindow("c", 10, np.array([4, 0, 1]), nulls=5, mismatches=0)
>>> f = MissingRate().judge(ref, w)
>>> f.value, round(f.effect_size, 2), f.p_value < 0.01
(0.5, 0.4, True)
>>> UnseenCategories().judge(ref, w).value
0.2
"""

from __future__ import annotations

from typing import ClassVar

from scipy import special

from driftd.detectors.base import ColumnKind, ColumnWindow, Finding
from driftd.detectors.profiles import CategoricalProfile, NumericProfile, Profile

__all__ = ["MissingRate", "OutOfRange", "TypeMismatch", "UnseenCategories", "binomial_excess"]

_BOTH: frozenset[ColumnKind] = frozenset({"numeric", "categorical"})


def binomial_excess(k: int, n: int, p0: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p0): how surprising ``k`` or more events are."""
    if k <= 0:
        return 1.0
    if p0 <= 0.0:
        return 0.0
    return float(special.bdtrc(k - 1, n, min(p0, 1.0)))


class MissingRate:
    name: ClassVar[str] = "missing_rate"
    kinds: ClassVar[frozenset[ColumnKind]] = _BOTH

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if window.n == 0:
            return None
        rate = window.nulls / window.n
        p = binomial_excess(window.nulls, window.n, reference.null_rate)
        return Finding(self.name, rate, p, rate - reference.null_rate)


class TypeMismatch:
    name: ClassVar[str] = "type_mismatch"
    kinds: ClassVar[frozenset[ColumnKind]] = _BOTH

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if window.n == 0:
            return None
        rate = window.mismatches / window.n
        return Finding(self.name, rate, None, rate)


class UnseenCategories:
    name: ClassVar[str] = "unseen"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"categorical"})

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, CategoricalProfile):
            return None
        if reference.known is None and reference.seen is None:
            return None
        present = window.present
        if present == 0:
            return None
        rate = int(window.counts[-1]) / present
        return Finding(self.name, rate, None, rate)


class OutOfRange:
    name: ClassVar[str] = "out_of_range"
    kinds: ClassVar[frozenset[ColumnKind]] = frozenset({"numeric"})

    def judge(self, reference: Profile, window: ColumnWindow) -> Finding | None:
        if not isinstance(reference, NumericProfile):
            return None
        present = window.present
        if present == 0:
            return None
        rate = window.out_of_range / present
        p = binomial_excess(window.out_of_range, present, 2.0 / (reference.count + 1))
        return Finding(self.name, rate, p, rate)
