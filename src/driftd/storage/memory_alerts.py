"""The alerting half of the in-memory control store (for unit tests and the demo).

Same compare-and-set and unique-key behaviour as the SQL store; records are
copied in and out so callers never share state with the store.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Sequence
from typing import TypeVar

from driftd.storage.alert_records import (
    AlertGroupRecord,
    AlertRecord,
    DeliveryAttempt,
    OutboxRecord,
    SilenceRecord,
)

__all__ = ["InMemoryAlertTables"]

_R = TypeVar("_R", AlertRecord, AlertGroupRecord)


class InMemoryAlertTables:
    """Methods of :class:`~driftd.storage.base.AlertStoreProtocol` over dicts."""

    _lock: threading.Lock

    def _open(self) -> None:
        """Raise when the store is closed (the store this mixes into provides it)."""
        raise NotImplementedError

    def _reset_alerts(self) -> None:
        self._alerts: dict[str, AlertRecord] = {}
        self._groups: dict[str, AlertGroupRecord] = {}
        self._silences: dict[str, SilenceRecord] = {}
        self._outbox: dict[str, OutboxRecord] = {}
        self._attempts: list[DeliveryAttempt] = []
        self._cooldowns: dict[str, int] = {}

    def _cas(
        self,
        table: dict[str, AlertRecord] | dict[str, AlertGroupRecord],
        key: str,
        record: AlertRecord | AlertGroupRecord,
    ) -> bool:
        stored = table.get(key)
        if (stored.version if stored is not None else 0) != record.version:
            return False
        record.version += 1
        table[key] = copy.deepcopy(record)  # type: ignore[assignment]
        return True

    def list_alerts(self, states: Collection[str] | None = None) -> list[AlertRecord]:
        with self._lock:
            self._open()
            found = [a for a in self._alerts.values() if states is None or a.state in states]
            return copy.deepcopy(sorted(found, key=lambda a: (a.active_ms, a.fingerprint)))

    def put_alert(self, alert: AlertRecord) -> bool:
        return self.put_alerts([alert])[0]

    def put_alerts(self, alerts: Sequence[AlertRecord]) -> list[bool]:
        with self._lock:
            self._open()
            return [self._cas(self._alerts, a.fingerprint, a) for a in alerts]

    def list_groups(self) -> list[AlertGroupRecord]:
        with self._lock:
            self._open()
            return copy.deepcopy([self._groups[k] for k in sorted(self._groups)])

    def put_group(
        self, group: AlertGroupRecord, queue: Sequence[OutboxRecord] = (), *, drop: bool = False
    ) -> bool:
        with self._lock:
            self._open()
            if drop:
                stored = self._groups.get(group.key)
                if stored is None or stored.version != group.version:
                    return False
                del self._groups[group.key]
            elif not self._cas(self._groups, group.key, group):
                return False
            self._queue(queue)
            return True

    def _queue(self, items: Sequence[OutboxRecord]) -> int:
        known = {o.key for o in self._outbox.values()}
        added = 0
        for item in items:
            if item.key not in known and item.id not in self._outbox:
                self._outbox[item.id] = copy.deepcopy(item)
                known.add(item.key)
                added += 1
        return added

    def put_silence(self, silence: SilenceRecord) -> None:
        with self._lock:
            self._open()
            self._silences[silence.id] = copy.deepcopy(silence)

    def list_silences(self) -> list[SilenceRecord]:
        with self._lock:
            self._open()
            return copy.deepcopy(sorted(self._silences.values(), key=lambda s: s.created_ms))

    def expire_silence(self, silence_id: str, now_ms: int) -> bool:
        with self._lock:
            self._open()
            silence = self._silences.get(silence_id)
            if silence is None or silence.ends_ms <= now_ms:
                return False
            silence.ends_ms = now_ms
            return True

    def enqueue(self, items: Sequence[OutboxRecord]) -> int:
        with self._lock:
            self._open()
            return self._queue(items)

    def trigger_webhook(self, cooldown_key: str, cooldown_ms: int, item: OutboxRecord) -> bool:
        with self._lock:
            self._open()
            if any(o.key == item.key for o in self._outbox.values()):
                return False
            last = self._cooldowns.get(cooldown_key)
            if last is not None and last > item.created_ms - cooldown_ms:
                return False
            self._cooldowns[cooldown_key] = item.created_ms
            return self._queue([item]) == 1

    def claim_outbox(self, now_ms: int, lease_ms: int, limit: int = 50) -> list[OutboxRecord]:
        with self._lock:
            self._open()
            due = sorted(
                (
                    o
                    for o in self._outbox.values()
                    if o.state == "pending"
                    and o.next_attempt_ms <= now_ms
                    and o.claimed_until_ms <= now_ms
                ),
                key=lambda o: o.next_attempt_ms,
            )[:limit]
            for item in due:
                item.claimed_until_ms = now_ms + lease_ms
            return copy.deepcopy(due)

    def finish_attempt(self, item: OutboxRecord, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self._open()
            stored = copy.deepcopy(item)
            stored.claimed_until_ms = 0
            self._outbox[item.id] = stored
            self._attempts.append(attempt)

    def list_outbox(
        self, kind: str | None = None, limit: int = 100, outbox_id: str | None = None
    ) -> list[OutboxRecord]:
        with self._lock:
            self._open()
            found = [
                o
                for o in self._outbox.values()
                if (kind is None or o.kind == kind) and (outbox_id is None or o.id == outbox_id)
            ]
            found.sort(key=lambda o: o.created_ms, reverse=True)
            return copy.deepcopy(found[:limit])

    def list_attempts(self, outbox_id: str) -> list[DeliveryAttempt]:
        with self._lock:
            self._open()
            return sorted(
                (a for a in self._attempts if a.outbox_id == outbox_id), key=lambda a: a.attempt
            )

    def redeliver(self, outbox_id: str, now_ms: int) -> bool:
        with self._lock:
            self._open()
            item = self._outbox.get(outbox_id)
            if item is None:
                return False
            item.state, item.next_attempt_ms, item.claimed_until_ms = "pending", now_ms, 0
            return True
