"""Temporary bridge from today's PSI rows to :class:`WindowResult`, until verdicts land.

The verdicts engine will judge every metric and publish results itself; until
then :func:`psi_results` gives each stored PSI row a severity from the usual
PSI thresholds (0.1 warning, 0.25 critical) and :class:`PublishingMonitor`
hands each batch of closed windows to the result sinks.

>>> from driftd.storage.records import DriftMetric
>>> rows = [DriftMetric("m", "v1", 2, 0, 9, f, "psi", v, 500, 10)
...         for f, v in (("a", 0.05), ("b", 0.1), ("c", 0.3))]
>>> [r.severity for r in psi_results(rows)]
['ok', 'warning', 'critical']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftd.detectors.monitor import ClosedWindow, DriftMonitor
from driftd.events import PredictionRecord
from driftd.monitoring.results import ResultSink, Severity, WindowResult
from driftd.storage.records import DriftMetric

__all__ = ["PublishingMonitor", "psi_results"]

PSI_WARNING = 0.1
PSI_CRITICAL = 0.25


def psi_results(rows: Sequence[DriftMetric]) -> list[WindowResult]:
    """PSI rows → results, severity by the PSI rule of thumb."""
    out = []
    for row in rows:
        severity: Severity = (
            "critical"
            if row.value >= PSI_CRITICAL
            else "warning"
            if row.value >= PSI_WARNING
            else "ok"
        )
        out.append(
            WindowResult(
                model=row.model,
                baseline_version=row.baseline_version,
                window_id=row.window_id,
                window_start_ms=row.window_start_ms,
                window_end_ms=row.window_end_ms,
                n=row.n,
                feature=row.feature,
                metric=row.metric,
                value=row.value,
                p_value=None,
                effect_size=row.value,
                severity=severity,
            )
        )
    return out


class PublishingMonitor(DriftMonitor):
    """A :class:`DriftMonitor` that also publishes each closed window's results to sinks."""

    def __init__(self, *args: Any, sinks: Sequence[ResultSink] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sinks = tuple(sinks)

    def observe(self, records: Sequence[PredictionRecord]) -> list[ClosedWindow]:
        closed = super().observe(records)
        if closed and self.sinks:
            results = psi_results([row for window in closed for row in window.rows])
            for sink in self.sinks:
                sink.publish(results)
        return closed
