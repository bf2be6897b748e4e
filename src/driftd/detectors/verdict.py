"""From findings to severities: thresholds, correction across features, persistence.

A finding is ``critical`` when its effect size reaches the rule's critical
floor *and* (if it has a p-value) its corrected p-value is below
``alpha_critical``; ``warning`` likewise with the warning floor and
``alpha_warning``; else ``ok``. Both conditions, always: at tens of thousands
of events every p-value is tiny, and the floor keeps differences of no
practical size from being flagged; at small windows noise crosses the floors,
and significance keeps it from being flagged.

p-values are corrected across every finding with a p-value in the window
(one family per window: the false-alarm target is "any warning in the
window"), by Bonferroni (default) or Benjamini-Hochberg.

>>> policy = Policy()
>>> fs = [Finding("ks", 0.2, 1e-9, 0.2), Finding("ks", 0.02, 0.3, 0.02),
...       Finding("type_mismatch", 1.0, None, 1.0)]
>>> severities(fs, policy)
['critical', 'ok', 'critical']
>>> [round(p, 3) for p in adjust([0.01, 0.04, 0.03], "bh")]
[0.03, 0.04, 0.04]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from driftd.detectors.base import Finding

__all__ = [
    "DEFAULT_RULES",
    "Correction",
    "Persistence",
    "Policy",
    "Rule",
    "Verdict",
    "adjust",
    "severities",
]

Correction = Literal["bonferroni", "bh"]
Verdict = Literal["ok", "warning", "critical"]


@dataclass(frozen=True)
class Rule:
    """Effect-size floors of one metric (on the scale of :attr:`Finding.effect_size`)."""

    warning: float
    critical: float

    def __post_init__(self) -> None:
        if not 0 <= self.warning <= self.critical:
            raise ValueError(f"need 0 <= warning <= critical, got {self.warning}, {self.critical}")


DEFAULT_RULES: Mapping[str, Rule] = {
    "psi": Rule(0.1, 0.25),  # the usual reading of PSI
    "ks": Rule(0.05, 0.15),  # D: a 0.25 sigma mean shift is D = 0.10
    "chi2": Rule(0.03, 0.10),  # total variation: 3 points of the mass moved
    "js": Rule(0.1, 0.2),
    "wasserstein": Rule(0.1, 0.25),  # in baseline standard deviations
    "spread": Rule(0.05, 0.15),  # 5 points more (or less) of the window in the tails
    "missing_rate": Rule(0.05, 0.20),  # points above the baseline's null rate
    "type_mismatch": Rule(0.01, 0.05),
    "unseen": Rule(0.02, 0.10),
    "out_of_range": Rule(0.01, 0.05),
}


@dataclass(frozen=True)
class Policy:
    """How findings become verdicts; the defaults are the measured ones (bench/README.md)."""

    rules: Mapping[str, Rule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    alpha_warning: float = 0.005
    alpha_critical: float = 0.0005
    correction: Correction = "bonferroni"
    persistence: int = 1
    min_window: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.alpha_critical <= self.alpha_warning < 1:
            raise ValueError("need 0 < alpha_critical <= alpha_warning < 1")
        if self.correction not in ("bonferroni", "bh"):
            raise ValueError(f"correction must be 'bonferroni' or 'bh', got {self.correction!r}")
        if self.persistence < 1:
            raise ValueError(f"persistence must be >= 1, got {self.persistence}")
        if self.min_window < 1:
            raise ValueError(f"min_window must be >= 1, got {self.min_window}")


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    """Corrected p-values, in the input order (Bonferroni, or Benjamini-Hochberg)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    if correction == "bonferroni":
        bonferroni: list[float] = np.minimum(p * m, 1.0).tolist()
        return bonferroni
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    adjusted: list[float] = out.tolist()
    return adjusted


def severities(
    findings: Sequence[Finding],
    policy: Policy,
    learned: Sequence[Sequence[float] | None] | None = None,
) -> list[Verdict]:
    """One verdict per finding of one window (metrics without a rule are ``ok``).

    ``learned`` gives, per finding, ``[warning, critical]`` floors learned
    from the baseline (or ``None``); they only raise the policy's floors.
    """
    with_p = [i for i, f in enumerate(findings) if f.p_value is not None]
    corrected: dict[int, float] = dict(
        zip(
            with_p,
            adjust([findings[i].p_value or 0.0 for i in with_p], policy.correction),
            strict=True,
        )
    )
    out: list[Verdict] = []
    for i, f in enumerate(findings):
        rule = policy.rules.get(f.metric)
        p = corrected.get(i)
        floors = learned[i] if learned is not None else None
        if rule is not None and floors is not None:
            rule = Rule(max(rule.warning, floors[0]), max(rule.critical, floors[1], floors[0]))
        if rule is None:
            out.append("ok")
        elif f.effect_size >= rule.critical and (p is None or p < policy.alpha_critical):
            out.append("critical")
        elif f.effect_size >= rule.warning and (p is None or p < policy.alpha_warning):
            out.append("warning")
        else:
            out.append("ok")
    return out


class Persistence:
    """A severity holds only after ``windows`` consecutive windows at (or above) it.

    >>> p = Persistence(2)
    >>> [p.apply("x", s) for s in ("warning", "critical", "critical", "ok")]
    ['ok', 'warning', 'critical', 'ok']
    >>> Persistence.from_dict(2, p.to_dict()).to_dict() == p.to_dict()
    True
    """

    def __init__(self, windows: int) -> None:
        if windows < 1:
            raise ValueError(f"windows must be >= 1, got {windows}")
        self.windows = windows
        self._streaks: dict[str, list[int]] = {}

    def apply(self, key: str, raw: str) -> Verdict:
        """The severity to report for ``key`` after this window's raw verdict."""
        warn, crit = self._streaks.get(key, [0, 0])
        warn = warn + 1 if raw in ("warning", "critical") else 0
        crit = crit + 1 if raw == "critical" else 0
        if warn or crit:
            self._streaks[key] = [warn, crit]
        else:
            self._streaks.pop(key, None)
        if crit >= self.windows:
            return "critical"
        return "warning" if warn >= self.windows else "ok"

    def to_dict(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self._streaks.items()}

    @classmethod
    def from_dict(cls, windows: int, data: Mapping[str, Sequence[int]]) -> Persistence:
        p = cls(windows)
        p._streaks = {k: [int(v[0]), int(v[1])] for k, v in data.items()}
        return p
