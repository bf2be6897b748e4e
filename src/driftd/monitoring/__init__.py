"""Monitoring: the orchestration between the pipeline and the pure detectors.

Routing predictions to baselines, open windows, checkpoints, judging closed
windows (:class:`WindowJudge`), performance as outcomes join
(:class:`PerformanceMonitor`) and publishing :class:`WindowResult` records to
every :class:`ResultSink` (storage, gauges, alerting).
"""

from driftd.monitoring.judge import LATENCY_METRICS, WindowJudge
from driftd.monitoring.monitor import DriftMonitor
from driftd.monitoring.perf_windows import OUTCOME_FEATURE, WindowSpec, event_errors, window_results
from driftd.monitoring.performance import (
    DAY_MS,
    ERROR_CHANGE,
    PerformanceMonitor,
    PerformancePlan,
)
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
    "DAY_MS",
    "ERROR_CHANGE",
    "LATENCY_METRICS",
    "OUTCOME_FEATURE",
    "SEVERITIES",
    "ClosedWindow",
    "DriftMonitor",
    "GaugeSink",
    "OpenWindow",
    "PerformanceMonitor",
    "PerformancePlan",
    "ResultSink",
    "RetryStep",
    "Severity",
    "StorageSink",
    "Ticker",
    "WindowJudge",
    "WindowPlan",
    "WindowResult",
    "WindowSpec",
    "event_errors",
    "results_token",
    "run_once",
    "severity_rank",
    "window_results",
    "worst",
]
