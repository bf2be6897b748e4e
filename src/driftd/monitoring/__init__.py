"""Monitoring: the orchestration between the pipeline and the pure detectors.

Judged windows become :class:`WindowResult` records published to every
:class:`ResultSink` (storage, gauges, alerting).
"""

from driftd.monitoring.results import (
    SEVERITIES,
    ResultSink,
    Severity,
    WindowResult,
    severity_rank,
    worst,
)

__all__ = ["SEVERITIES", "ResultSink", "Severity", "WindowResult", "severity_rank", "worst"]
