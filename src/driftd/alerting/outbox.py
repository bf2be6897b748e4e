"""The durable outbox worker: delivers queued notifications and webhooks, with retries.

Each pass leases the due messages (so several processes never send one
message at the same time), tries each once, records the attempt and schedules
the next: webhooks on ``alerting.outbox.webhook_schedule`` (by default Svix's,
:data:`~driftd.alerting.webhooks.SVIX_SCHEDULE_MS`),
notifications with exponential backoff and ±20% jitter up to
``alerting.outbox.max_attempts``. A message whose process died mid-attempt is
leased again once its lease runs out, so a crash delays a delivery and never
loses it (a receiver may see one attempt twice: same ``webhook-id``).
"""

from __future__ import annotations

import json
import logging
import random

from driftd.alerting.engine import Clock
from driftd.alerting.notify import AppriseNotifier
from driftd.alerting.webhooks import deliver_webhook
from driftd.config.alerting import AlertingSettings
from driftd.errors import DeliveryError
from driftd.metrics import Metrics
from driftd.storage.alert_records import DeliveryAttempt, OutboxRecord
from driftd.storage.base import AlertStoreProtocol

__all__ = ["LEASE_MS", "OutboxWorker"]

logger = logging.getLogger(__name__)

LEASE_MS = 120_000
"""How long one process holds a message it is delivering (beyond any timeout)."""


class OutboxWorker:
    """Delivers what is due; :meth:`run_once` is one pass (the alerting thread loops it)."""

    def __init__(
        self,
        settings: AlertingSettings,
        store: AlertStoreProtocol,
        clock: Clock,
        metrics: Metrics,
        notifier: AppriseNotifier | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.notifier = notifier if notifier is not None else AppriseNotifier(settings)
        self.rng = rng if rng is not None else random.Random()

    def run_once(self, limit: int = 50) -> int:
        """Try every due message once; return how many were tried."""
        items = self.store.claim_outbox(self.clock(), LEASE_MS, limit)
        for item in items:
            self._attempt(item)
        return len(items)

    def _send(self, item: OutboxRecord, now: int) -> int | None:
        if item.kind == "webhook":
            hook = self.settings.webhook(item.target)
            if hook is None:
                raise DeliveryError(f"webhook {item.target!r} is no longer configured", retry=False)
            return deliver_webhook(
                hook,
                item.id,
                item.payload,
                now // 1000,
                allow_private=self.settings.allow_private_targets,
                allowed_hosts=self.settings.guard_hosts,
            )
        message = json.loads(item.payload)
        self.notifier.send(item.target, message["title"], message["body"], message["notify_type"])
        return None

    def _attempt(self, item: OutboxRecord) -> None:
        now = self.clock()
        item.attempts += 1
        status: int | None = None
        error = ""
        retry = True
        try:
            status = self._send(item, now)
        except DeliveryError as exc:
            error, status, retry = str(exc), exc.status, exc.retry
        except Exception as exc:  # a notifier plugin's own bug must not stop the outbox
            error = f"{type(exc).__name__}: {exc}"
            logger.exception("delivery of %s raised", item.id)
        item.last_status, item.last_error = status, error
        if not error:
            item.state, item.delivered_ms = "delivered", now
            outcome = "delivered"
        else:
            delay = self._delay(item) if retry else None
            if delay is None:
                item.state, outcome = "failed", "failed"
            else:
                item.next_attempt_ms, outcome = now + delay, "retry"
            logger.warning(
                "%s %s to %s, attempt %d: %s (%s)",
                item.kind,
                item.id,
                item.target,
                item.attempts,
                error,
                outcome,
            )
        self.store.finish_attempt(
            item, DeliveryAttempt(item.id, item.attempts, now, not error, status, error)
        )
        counter = (
            self.metrics.webhook_deliveries.labels(webhook=item.target, outcome=outcome)
            if item.kind == "webhook"
            else self.metrics.notifications.labels(route=item.target, outcome=outcome)
        )
        counter.inc()

    def _delay(self, item: OutboxRecord) -> int | None:
        """Milliseconds until the next attempt, or ``None`` to give up."""
        n = item.attempts
        out = self.settings.outbox
        if item.kind == "webhook":
            schedule = out.webhook_schedule
            return schedule[n] if n < len(schedule) else None
        if n >= out.max_attempts:
            return None
        base: int = min(out.initial * 2 ** (n - 1), out.max)
        return round(base * self.rng.uniform(0.8, 1.2))
