"""Pushes driftd's alerts to a Prometheus Alertmanager (``POST /api/v2/alerts``).

Like Prometheus does: firing alerts are sent again every ``resend_interval``
with ``endsAt`` four intervals ahead (so Alertmanager resolves them by itself
if driftd goes away), and a resolved alert is sent once more with ``endsAt``
set to when it resolved. A failed push is counted and retried on the next
pass, which the resend schedule makes harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from driftd.alerting.engine import Clock
from driftd.alerting.messages import drift_link
from driftd.alerting.netguard import check_target
from driftd.config.alerting import AlertingSettings
from driftd.errors import DeliveryError
from driftd.metrics import Metrics
from driftd.storage.alert_records import AlertRecord
from driftd.storage.base import AlertStoreProtocol

__all__ = ["AlertmanagerPusher", "rfc3339"]

logger = logging.getLogger(__name__)


def rfc3339(ms: int) -> str:
    """Epoch ms → RFC 3339 with milliseconds, as Alertmanager reads it.

    >>> rfc3339(1_500)
    '1970-01-01T00:00:01.500Z'
    """
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AlertmanagerPusher:
    """Sends what is due to Alertmanager; :meth:`push` is one pass."""

    def __init__(
        self, settings: AlertingSettings, store: AlertStoreProtocol, clock: Clock, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.metrics = metrics

    def _due(self, now: int) -> list[AlertRecord]:
        resend = self.settings.alertmanager.resend_interval
        due = []
        for a in self.store.list_alerts(["firing", "resolved"]):
            if (a.state == "firing" and (a.am_sent_ms is None or now - a.am_sent_ms >= resend)) or (
                a.state == "resolved"
                and a.am_sent_ms is not None
                and a.resolved_ms is not None
                and a.am_sent_ms < a.resolved_ms
            ):
                due.append(a)
        return due

    def _body(self, alert: AlertRecord, now: int) -> dict[str, Any]:
        resend = self.settings.alertmanager.resend_interval
        starts = alert.fired_ms or alert.active_ms
        ends = alert.resolved_ms if alert.state == "resolved" else now + 4 * resend
        return {
            "labels": alert.labels,
            "annotations": {**alert.annotations, "value": f"{alert.value:.6g}"},
            "startsAt": rfc3339(starts),
            "endsAt": rfc3339(max(ends or now, starts)),  # Alertmanager refuses ends < starts
            "generatorURL": drift_link(self.settings.external_url, alert),
        }

    def push(self) -> int:
        """Send the due alerts in one request; return how many were sent."""
        url = self.settings.alertmanager.url
        if not url:
            return 0
        now = self.clock()
        due = self._due(now)
        if not due:
            return 0
        target = url.rstrip("/") + "/api/v2/alerts"
        try:
            check_target(
                target,
                allow_private=self.settings.allow_private_targets,
                allowed_hosts=self.settings.guard_hosts,
            )
            timeout = self.settings.alertmanager.timeout / 1000
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.post(target, json=[self._body(a, now) for a in due])
            if response.status_code != 200:
                raise DeliveryError(f"Alertmanager answered HTTP {response.status_code}")
        except (httpx.HTTPError, DeliveryError) as exc:
            self.metrics.alertmanager_pushes.labels(outcome="failed").inc()
            logger.warning("push of %d alerts to Alertmanager failed: %s", len(due), exc)
            return 0
        self.metrics.alertmanager_pushes.labels(outcome="ok").inc()
        for alert in due:
            # a resolved alert, once pushed, is nothing Alertmanager needs to hear of again
            alert.am_sent_ms = now if alert.state == "firing" else None
        self.store.put_alerts(due)  # newer writes win; those are sent again next pass
        return len(due)
