"""What a judged window produces, and where it goes: :class:`WindowResult` and sinks.

Every judgement driftd makes — a drift statistic on a feature, a data-quality
rate, a stream detector firing, a performance metric once outcomes join — ends
as one :class:`WindowResult` per (window, segment, feature, metric). Results
flow one way, to every :class:`ResultSink` the daemon wired: storage (the
``drift_metrics`` table), Prometheus gauges, and the alerting evaluator.

>>> r = WindowResult(model="m", baseline_version="v1", window_id=3, window_start_ms=0,
...                  window_end_ms=60_000, n=1000, feature="income", metric="psi",
...                  value=0.31, p_value=None, effect_size=0.31, severity="critical")
>>> r.rank, r.is_problem, r.key
(3, True, ('m', 'v1', '', 'income', 'psi', 3))
>>> worst([r, r.with_severity("warning")]).severity
'critical'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = ["SEVERITIES", "ResultSink", "Severity", "WindowResult", "severity_rank", "worst"]

Severity = Literal["ok", "info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "critical")
_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    """0 for ``ok`` up to 3 for ``critical``; ``ValueError`` for anything else."""
    try:
        return _RANK[severity]
    except KeyError:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}") from None


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One metric of one column (or the whole model) for one closed window.

    ``feature`` is the column's name (the prediction keeps its baseline column
    name; model-wide metrics such as latency use ``""``), ``segment`` is
    ``""`` for the whole window or ``"key=value"`` for a slice. ``p_value``
    and ``effect_size`` are ``None`` where the statistic defines none.
    """

    model: str
    baseline_version: str
    window_id: int
    window_start_ms: int
    window_end_ms: int
    n: int
    feature: str
    metric: str
    value: float
    p_value: float | None
    effect_size: float | None
    severity: Severity
    segment: str = ""

    def __post_init__(self) -> None:
        severity_rank(self.severity)

    @property
    def rank(self) -> int:
        return _RANK[self.severity]

    @property
    def is_problem(self) -> bool:
        """True for ``warning`` and ``critical``."""
        return self.rank >= _RANK["warning"]

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """Identity in storage: (model, baseline version, segment, feature, metric, window)."""
        return (
            self.model,
            self.baseline_version,
            self.segment,
            self.feature,
            self.metric,
            self.window_id,
        )

    def with_severity(self, severity: Severity) -> WindowResult:
        """This result with ``severity`` (itself when it has it: results are immutable)."""
        return self if severity == self.severity else replace(self, severity=severity)


def worst(results: Iterable[WindowResult]) -> WindowResult:
    """The result with the highest severity (the first of equals); ``ValueError`` if none."""
    best: WindowResult | None = None
    for r in results:
        if best is None or r.rank > best.rank:
            best = r
    if best is None:
        raise ValueError("no results")
    return best


class ResultSink(Protocol):
    """Receives every batch of results, in order; storage, gauges and alerting implement it.

    ``publish`` must not block the collector on a slow downstream (alerting
    queues its notifications); it raises :class:`driftd.errors.DriftdError`
    subclasses for failures the caller retries.
    """

    def publish(self, results: Sequence[WindowResult]) -> None: ...
