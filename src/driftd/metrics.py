"""Prometheus metrics, built on a registry the daemon owns (never the global one).

Names carry the ``driftd_`` prefix and follow Prometheus conventions
(``_total`` counters, base units), so ``promtool check metrics`` is clean.

>>> m = Metrics()
>>> m.events_received.labels(kind="predictions").inc(3)
>>> m.registry.get_sample_value("driftd_events_received_total", {"kind": "predictions"})
3.0
"""

from __future__ import annotations

import platform

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from driftd import __version__

__all__ = ["Metrics"]


class Metrics:
    """The collector's and API's metrics on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # process_* (CPU, memory, open files, start time) and python_info / python_gc_*,
        # on driftd's own registry: the default one is never used
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(GC_COLLECTOR)
        self.build_info = Gauge(
            "driftd_build_info",
            "Always 1; the labels say which driftd and Python run.",
            ["version", "python_version"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.last_window_closed = Gauge(
            "driftd_last_window_closed_timestamp_seconds",
            "When (wall clock, Unix seconds) the model's last drift window was judged; "
            "time() minus this is how stale its verdicts are.",
            ["model"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "driftd_kafka_consumer_lag",
            "Messages in an assigned partition not yet done (high watermark minus the first "
            "offset of the batch being processed, or the position), as of the last poll.",
            ["topic", "partition"],
            registry=r,
        )
        self.events_received = Counter(
            "driftd_events_received", "Events received, before validation.", ["kind"], registry=r
        )
        self.events_stored = Counter(
            "driftd_events_stored", "Events written to storage.", ["kind"], registry=r
        )
        self.dead_letters = Counter(
            "driftd_dead_letters",
            "Events rejected to the dead-letter sink, by reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.windows_closed = Counter(
            "driftd_windows_closed", "Drift windows judged.", ["model"], registry=r
        )
        self.storage_retries = Counter(
            "driftd_storage_retries", "Batches retried after a storage failure.", registry=r
        )
        self.batch_duration = Histogram(
            "driftd_batch_duration_seconds",
            "Time to process one batch (decode to stored and judged).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        labels = ["model", "baseline_version", "feature", "metric", "segment"]
        self.drift_value = Gauge(
            "driftd_drift_value",
            "Value of a drift or data-quality metric in the last closed window "
            "(one series per metric: a KS p-value never shares a PSI series).",
            labels,
            registry=r,
        )
        self.drift_severity = Gauge(
            "driftd_drift_severity",
            "Severity of that metric in the last closed window: 0 ok, 1 info, 2 warning, "
            "3 critical.",
            labels,
            registry=r,
        )
        self.notifications = Counter(
            "driftd_notifications",
            "Apprise notification attempts by route and outcome (delivered, retry, failed).",
            ["route", "outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "driftd_webhook_deliveries",
            "Retraining webhook attempts by webhook and outcome (delivered, retry, failed).",
            ["webhook", "outcome"],
            registry=r,
        )
        self.alertmanager_pushes = Counter(
            "driftd_alertmanager_pushes",
            "Pushes of alerts to Alertmanager by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.alerts_fired = Counter(
            "driftd_alerts_fired",
            "Alerts that started firing, by rule and severity.",
            ["alertname", "severity"],
            registry=r,
        )
