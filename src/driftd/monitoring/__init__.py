"""Monitoring: the orchestration between the pipeline and the pure detectors.

Routing predictions to baselines, open windows, checkpoints, judging closed
windows (:class:`WindowJudge`) and publishing :class:`WindowResult` records to
every :class:`ResultSink` (storage, gauges, alerting).
"""

from driftd.monitoring.judge import LATENCY_METRICS, WindowJudge
from driftd.monitoring.monitor import DriftMonitor
from driftd.monitoring.results import (
    SEVERITIES,
    ResultSink,
    Severity,
    WindowResult,
    severity_rank,
    worst,
)
from driftd.monitoring.sinks import GaugeSink, StorageSink, results_token
from driftd.monitoring.ticker import Ticker
from driftd.monitoring.windows import (
    ClosedWindow,
    OpenWindow,
    RetryStep,
    WindowPlan,
    run_once,
)

__all__ = [
    "LATENCY_METRICS",
    "SEVERITIES",
    "ClosedWindow",
    "DriftMonitor",
    "GaugeSink",
    "OpenWindow",
    "ResultSink",
    "RetryStep",
    "Severity",
    "StorageSink",
    "Ticker",
    "WindowJudge",
    "WindowPlan",
    "WindowResult",
    "results_token",
    "run_once",
    "severity_rank",
    "worst",
]
