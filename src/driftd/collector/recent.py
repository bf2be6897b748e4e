"""Recently stored event ids: a client's retry of an event already stored is stored once.

Kafka redelivery is handled by offsets (see :mod:`driftd.collector.kafka_source`);
this covers the other duplicate, a client sending the same event again — after
a timeout, or after an HTTP 503 that said some events were published. Only ids
the client chose count (an ``event_id`` derived from Kafka coordinates is
unique anyway). The memory is bounded: the ``capacity`` most recent ids of
this process, per kind and model; a retry that arrives later than that, or
after a restart, is stored again.

>>> recent = RecentIds(capacity=2)
>>> recent.add("predictions", [("m", "a"), ("m", "b"), ("m", "c")])
>>> [recent.seen("predictions", "m", e) for e in "abc"]
[False, True, True]
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = ["RecentIds"]


class RecentIds:
    """A bounded, thread-safe set of the most recently stored ``(kind, model, event_id)``."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._ids: dict[tuple[str, str, str], None] = {}  # insertion order = age
        self._lock = threading.Lock()

    def seen(self, kind: str, model: str, event_id: str) -> bool:
        with self._lock:
            return (kind, model, event_id) in self._ids

    def seen_many(
        self, kind: str, models: Iterable[str], event_ids: Iterable[str]
    ) -> npt.NDArray[np.bool_]:
        """:meth:`seen` for each ``(model, event_id)``, under one lock."""
        with self._lock:
            ids = self._ids
            return np.fromiter(
                ((kind, m, e) in ids for m, e in zip(models, event_ids, strict=True)), np.bool_
            )

    def add(self, kind: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember ``(model, event_id)`` pairs just stored; the oldest are forgotten."""
        if self.capacity == 0:
            return
        with self._lock:
            ids = self._ids
            for model, event_id in pairs:
                key = (kind, model, event_id)
                ids.pop(key, None)  # re-adding makes it the newest
                ids[key] = None
            while len(ids) > self.capacity:
                del ids[next(iter(ids))]

    def __len__(self) -> int:
        return len(self._ids)
