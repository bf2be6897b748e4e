"""Aggregation groups: one message per route and group, not one per alert.

Alertmanager's timing: a new group waits ``group_wait`` before its first
message (so alerts raised together arrive together); after that the group is
looked at every ``group_interval`` and sends when alerts joined or resolved,
or, with nothing new, when ``repeat_interval`` has passed since the last
message. A group whose alerts all resolved sends the resolved message and is
forgotten. Muted alerts (silenced, or a warning inhibited by a critical alert
on the same model and feature) are left out of messages.

A message is queued in the outbox in the same transaction that advances the
group (compare-and-set on its version), with a key naming the group, its
creation and that version: two processes flushing one group queue one message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from driftd.alerting.engine import Clock
from driftd.alerting.labels import group_key
from driftd.alerting.messages import render_notification
from driftd.config.alerting import AlertingSettings
from driftd.storage.alert_records import (
    AlertGroupRecord,
    AlertRecord,
    OutboxRecord,
    SilenceRecord,
)
from driftd.storage.base import AlertStoreProtocol

__all__ = ["GroupFlusher", "muted"]


def muted(
    alerts: Sequence[AlertRecord], silences: Sequence[SilenceRecord], now_ms: int
) -> set[str]:
    """Fingerprints of firing alerts that are silenced or inhibited."""
    critical = {
        (a.labels.get("model"), a.labels.get("feature"))
        for a in alerts
        if a.state == "firing" and a.labels.get("severity") == "critical"
    }
    out: set[str] = set()
    for a in alerts:
        if (
            a.labels.get("severity") == "warning"
            and ((a.labels.get("model"), a.labels.get("feature")) in critical)
        ) or any(s.mutes(a.labels, now_ms) for s in silences):
            out.add(a.fingerprint)
    return out


class GroupFlusher:
    """Builds groups from firing alerts and queues their messages when due."""

    def __init__(self, settings: AlertingSettings, store: AlertStoreProtocol, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    def flush(self) -> int:
        """Look at every group once; return how many messages were queued."""
        now = self.clock()
        s = self.settings
        alerts = self.store.list_alerts()
        by_fp = {a.fingerprint: a for a in alerts}
        silent = muted(alerts, self.store.list_silences(), now)
        members: dict[str, tuple[str, dict[str, str], list[str]]] = {}
        for alert in alerts:
            if alert.state != "firing" or alert.fingerprint in silent:
                continue
            for route in s.routes:
                if alert.labels.get("severity") in route.severities:
                    key, labels = group_key(route.name, alert.labels, s.group_by)
                    members.setdefault(key, (route.name, labels, []))[2].append(alert.fingerprint)
        groups = {g.key: g for g in self.store.list_groups()}
        queued = 0
        for key, (route_name, labels, _) in members.items():
            if key not in groups:
                group = AlertGroupRecord(
                    key=key,
                    route=route_name,
                    labels=labels,
                    created_ms=now,
                    next_flush_ms=now + s.group_wait,
                )
                if self.store.put_group(group):
                    groups[key] = group
        for key, group in groups.items():
            if now < group.next_flush_ms:
                continue
            firing = sorted(members.get(key, ("", {}, []))[2])
            queued += self._flush_one(group, firing, by_fp, now)
        return queued

    def _flush_one(
        self, group: AlertGroupRecord, firing: list[str], by_fp: dict[str, AlertRecord], now: int
    ) -> int:
        s = self.settings
        notified = set(group.notified)
        resolved = sorted(
            fp for fp in notified - set(firing) if fp in by_fp and by_fp[fp].state == "resolved"
        )
        joined = set(firing) - notified
        repeat = (
            bool(firing)
            and group.last_sent_ms is not None
            and now - group.last_sent_ms >= s.repeat_interval
        )
        if not (joined or resolved or repeat):
            if not firing:
                self.store.put_group(group, drop=True)
                return 0
            group.notified = firing  # muted ones leave quietly
            group.next_flush_ms = now + s.group_interval
            self.store.put_group(group)
            return 0
        title, body, notify_type = render_notification(
            group.labels,
            [by_fp[fp] for fp in firing],
            [by_fp[fp] for fp in resolved],
            s.external_url,
        )
        item = OutboxRecord(
            id=f"msg_{uuid.uuid4().hex}",
            # a group that resolved and came back is a new group: created_ms tells them apart
            key=f"notify:{group.key}:{group.created_ms}:{group.version}",
            kind="notification",
            target=group.route,
            payload=json.dumps({"title": title, "body": body, "notify_type": notify_type}),
            created_ms=now,
            next_attempt_ms=now,
        )
        if not firing:
            return 1 if self.store.put_group(group, [item], drop=True) else 0
        group.notified, group.last_sent_ms = firing, now
        group.next_flush_ms = now + s.group_interval
        if not self.store.put_group(group, [item]):
            return 0
        for fp in firing:
            by_fp[fp].last_notified_ms = now
        self.store.put_alerts([by_fp[fp] for fp in firing])  # best effort: newer writes win
        return 1
