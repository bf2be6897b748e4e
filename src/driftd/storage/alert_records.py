"""Records of the alerting tables: alerts, notification groups, silences, the outbox.

Times are epoch milliseconds (UTC). Every record carries a ``version`` where
several processes may change it: a write names the version it read and fails
(returns ``False``) when another process got there first, so one alert stays
one alert and one notification is queued once, however many collectors run.

>>> m = Matcher("severity", "critical")
>>> m.matches({"severity": "critical"}), Matcher("model", "credit-.*", is_regex=True).matches({})
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AlertGroupRecord",
    "AlertRecord",
    "AlertState",
    "DeliveryAttempt",
    "Matcher",
    "OutboxKind",
    "OutboxRecord",
    "OutboxState",
    "SilenceRecord",
]

AlertState = Literal["pending", "firing", "resolved"]
OutboxKind = Literal["notification", "webhook"]
OutboxState = Literal["pending", "delivered", "failed"]


@dataclass(slots=True)
class AlertRecord:
    """One alert: a label set (its ``fingerprint``) and where it is in its lifecycle.

    ``active_ms`` is when the condition started to hold (pending since),
    ``fired_ms`` when it fired, ``resolved_ms`` when it stopped holding.
    ``detail`` holds the latest result behind it (value, window, baseline).
    ``webhooks_done`` is set once the retraining triggers of this firing ran;
    ``am_sent_ms`` is the last push of the firing alert to Alertmanager (cleared
    once its resolution is pushed).
    """

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    active_ms: int
    updated_ms: int
    value: float
    detail: dict[str, object] = field(default_factory=dict)
    fired_ms: int | None = None
    resolved_ms: int | None = None
    last_notified_ms: int | None = None
    am_sent_ms: int | None = None
    webhooks_done: bool = False
    version: int = 0


@dataclass(slots=True)
class AlertGroupRecord:
    """One aggregation group: a route and the values of the ``group_by`` labels.

    ``notified`` holds the fingerprints of the firing alerts the last message
    announced; ``next_flush_ms`` is when the group is looked at next.
    """

    key: str
    route: str
    labels: dict[str, str]
    created_ms: int
    next_flush_ms: int
    last_sent_ms: int | None = None
    notified: list[str] = field(default_factory=list)
    version: int = 0


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher, as Alertmanager's silences have them."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        hit = re.fullmatch(self.value, got) is not None if self.is_regex else got == self.value
        return hit == self.is_equal


@dataclass(slots=True)
class SilenceRecord:
    """Mutes every alert whose labels match all ``matchers`` while it is active."""

    id: str
    matchers: list[Matcher]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    created_ms: int

    def active(self, now_ms: int) -> bool:
        return self.starts_ms <= now_ms < self.ends_ms

    def mutes(self, labels: Mapping[str, str], now_ms: int) -> bool:
        return self.active(now_ms) and all(m.matches(labels) for m in self.matchers)


@dataclass(slots=True)
class OutboxRecord:
    """A message waiting to be delivered (an Apprise notification or a webhook call).

    ``id`` doubles as the Standard Webhooks ``webhook-id`` (the same on every
    retry); ``key`` is the idempotency key, unique: the same trigger is queued
    once. ``payload`` is JSON text; secrets are never stored, the target
    (``target``: a route or webhook name) is looked up in the settings when sending.
    """

    id: str
    key: str
    kind: OutboxKind
    target: str
    payload: str
    created_ms: int
    next_attempt_ms: int
    state: OutboxState = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""
    delivered_ms: int | None = None
    claimed_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try at delivering an outbox message."""

    outbox_id: str
    attempt: int
    at_ms: int
    ok: bool
    status: int | None
    error: str
