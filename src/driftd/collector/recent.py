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
from itertools import islice, repeat

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
        """:meth:`seen` for each ``(model, event_id)``, under one lock (keys built and looked
        up without a Python-level loop)."""
        keys = _keys(kind, models, event_ids)
        with self._lock:
            return np.fromiter(map(self._ids.__contains__, keys), np.bool_, len(keys))

    def add(self, kind: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Remember ``(model, event_id)`` pairs just stored; the oldest are forgotten."""
        listed = list(pairs)
        if listed:
            models, event_ids = zip(*listed, strict=True)
            self.add_many(kind, models, event_ids)

    def add_many(self, kind: str, models: Iterable[str], event_ids: Iterable[str]) -> None:
        """:meth:`add` of ``zip(models, event_ids)``: re-adding makes a pair the newest, the
        oldest beyond ``capacity`` are forgotten."""
        if self.capacity == 0:
            return
        keys = _keys(kind, models, event_ids)
        new = dict.fromkeys(keys)
        if len(new) != len(keys):  # a pair twice: it is as new as its last occurrence
            new = dict.fromkeys(reversed(dict.fromkeys(reversed(keys))))
        with self._lock:
            ids = self._ids
            for key in new.keys() & ids.keys():
                del ids[key]  # re-adding makes it the newest
            ids.update(new)
            excess = len(ids) - self.capacity
            if excess > 0:
                for key in list(islice(ids, excess)):
                    del ids[key]

    def __len__(self) -> int:
        return len(self._ids)


def _keys(kind: str, models: Iterable[str], event_ids: Iterable[str]) -> list[tuple[str, str, str]]:
    """``[(kind, model, event_id), ...]``, the tuples built by ``zip`` (no Python loop)."""
    ms, es = list(models), list(event_ids)
    if len(ms) != len(es):
        raise ValueError(f"{len(ms)} models for {len(es)} event ids")
    return list(zip(repeat(kind, len(ms)), ms, es, strict=True))
