"""Alerting as a running part of driftd: a result sink plus two background threads.

``publish`` only queues results, so the collector is never slowed by the
control store, Apprise or a webhook receiver. The alerting thread applies
queued results to alert state every ``alerting.tick`` (promotes pending
alerts, queues retraining webhooks, flushes notification groups, pushes to
Alertmanager); the outbox thread delivers what is queued. Results that cannot
be applied because the control store fails are kept and applied on a later
tick. Results queued but not yet applied when a process dies are lost: the
next window of the same condition raises the alert again (alerts are
level-triggered).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from driftd.alerting.alertmanager import AlertmanagerPusher
from driftd.alerting.engine import AlertEngine, Clock
from driftd.alerting.grouping import GroupFlusher, muted
from driftd.alerting.notify import AppriseNotifier
from driftd.alerting.outbox import OutboxWorker
from driftd.alerting.webhooks import build_body, trigger_key, wanted_hooks
from driftd.config import Settings
from driftd.config.alerting import AlertingSettings
from driftd.errors import DriftdError
from driftd.metrics import Metrics
from driftd.monitoring.results import WindowResult
from driftd.storage.alert_records import OutboxRecord
from driftd.storage.base import AlertStoreProtocol

__all__ = ["Alerting", "AlertingSink", "build_alerting", "wall_clock_ms"]

logger = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 30.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class AlertingSink:
    """The :class:`~driftd.monitoring.results.ResultSink` of alerting: queues, never blocks."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._queue: queue.SimpleQueue[Sequence[WindowResult]] = queue.SimpleQueue()
        self._held: list[WindowResult] = []  # only the alerting thread touches it

    def publish(self, results: Sequence[WindowResult]) -> None:
        if results and self.enabled:
            self._queue.put(list(results))

    def requeue(self, results: Sequence[WindowResult]) -> None:
        """Give back results that could not be applied; the next ``drain`` returns them first."""
        held = list(results)
        if held:
            self._held = [*held, *self._held]

    def drain(self) -> list[WindowResult]:
        out, self._held = self._held, []
        while True:
            try:
                out.extend(self._queue.get_nowait())
            except queue.Empty:
                return out


class Alerting:
    """Wires engine, groups, webhooks, Alertmanager and the outbox around one store."""

    def __init__(
        self,
        settings: AlertingSettings,
        store: AlertStoreProtocol,
        metrics: Metrics,
        stopping: threading.Event | None = None,
        *,
        clock: Clock = wall_clock_ms,
        notifier: AppriseNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.stopping = stopping if stopping is not None else threading.Event()
        self.sink = AlertingSink(settings.enabled)
        self.engine = AlertEngine(settings, store, clock)
        self.groups = GroupFlusher(settings, store, clock)
        self.pusher = AlertmanagerPusher(settings, store, clock, metrics)
        self.outbox = OutboxWorker(settings, store, clock, metrics, notifier)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def tick(self) -> None:
        """One pass of everything but deliveries (tests call it with a fake clock)."""
        results = self.sink.drain()
        if results:
            try:
                self.engine.observe(results)
            except BaseException:
                self.sink.requeue(results)  # a store failure must not lose verdicts
                raise
        for alert in self.engine.promote():
            labels = alert.labels
            self.metrics.alerts_fired.labels(
                alertname=labels.get("alertname", ""), severity=labels.get("severity", "")
            ).inc()
        self.trigger_webhooks()
        self.groups.flush()
        self.pusher.push()

    def trigger_webhooks(self) -> int:
        """Queue the retraining webhooks of firing alerts that have not triggered yet."""
        if not self.settings.webhooks:
            return 0
        now = self.clock()
        alerts = self.store.list_alerts()
        silent = muted(alerts, self.store.list_silences(), now)
        queued = 0
        done = []
        for alert in alerts:
            if alert.state != "firing" or alert.webhooks_done or alert.fingerprint in silent:
                continue
            for hook in wanted_hooks(self.settings.webhooks, alert):
                key = trigger_key(hook, alert)
                item = OutboxRecord(
                    id=f"msg_{uuid.uuid4().hex}",
                    key=key,
                    kind="webhook",
                    target=hook.name,
                    payload=build_body(hook, alert, key, self.settings.external_url),
                    created_ms=now,
                    next_attempt_ms=now,
                )
                cooldown_key = f"{hook.name}/{alert.labels.get('model', '')}"
                if self.store.trigger_webhook(cooldown_key, hook.cooldown, item):
                    queued += 1
                else:
                    logger.info("webhook %s for %s held (cooldown or done)", hook.name, key)
            alert.webhooks_done = True
            done.append(alert)
        self.store.put_alerts(done)
        return queued

    def _loop(self, step: Callable[[], object], period_s: float) -> None:
        while not (self._stop.is_set() or self.stopping.is_set()):
            try:
                step()
            except DriftdError as exc:
                logger.warning("alerting pass failed, retrying: %s", exc)
            except Exception:
                logger.exception("alerting pass failed unexpectedly")
            if self._stop.wait(period_s):
                return

    def start(self) -> None:
        if not self.settings.enabled:
            return
        for name, step, period_ms in (
            ("driftd-alerting", self.tick, self.settings.tick),
            ("driftd-outbox", self.outbox.run_once, self.settings.outbox.poll),
        ):
            thread = threading.Thread(
                target=self._loop, args=(step, period_ms / 1000), name=name, daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Stop the threads, then apply whatever results are still queued (best effort)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_S)
        self._threads.clear()
        if not self.settings.enabled:
            return
        try:
            results = self.sink.drain()
            if results:
                self.engine.observe(results)
        except DriftdError as exc:
            logger.warning("could not apply the last results to alert state: %s", exc)


def build_alerting(
    settings: Settings,
    control: AlertStoreProtocol,
    metrics: Metrics,
    stopping: threading.Event,
    *,
    clock: Clock = wall_clock_ms,
) -> Alerting:
    """The daemon's alerting, from its settings (not started)."""
    return Alerting(settings.alerting, control, metrics, stopping, clock=clock)
