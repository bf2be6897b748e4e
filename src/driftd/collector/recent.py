"""Recently stored event ids: a client's retry of an event already stored is stored once.

Kafka redelivery is handled by offsets (see :mod:`driftd.collector.kafka_source`);
this covers the other duplicate, a client sending the same event again — after
a timeout, or after an HTTP 503 that said some events were published. Only ids
the client chose count (an ``event_id`` derived from Kafka coordinates is
unique anyway). The memory is bounded: the ``capacity`` most recent ids of
this process, per kind and model; a retry that arrives later than that, or
after a restart, is stored again. A batch counts as added model by model, in
order of first appearance, each model's ids in batch order (only which of one
batch's ids go first at the capacity depends on it).

>>> recent = RecentIds(capacity=2)
>>> recent.add("predictions", [("m", "a"), ("m", "b"), ("m", "c")])
>>> [recent.seen("predictions", "m", e) for e in "abc"]
[False, True, True]
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from itertools import repeat

import numpy as np
import numpy.typing as npt

from driftd.batch import factorize

__all__ = ["RecentIds"]


class RecentIds:
    """A bounded, thread-safe set of the most recently stored ``(kind, model, event_id)``.

    Held as one ``{event_id: sequence number}`` per kind and model (strings and
    integers: nothing the cyclic garbage collector walks), and the order of
    arrival as runs of ids added together; an id added again gets a new number,
    and its old place in the order is skipped when the oldest are forgotten.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._groups: dict[tuple[str, str], dict[str, int]] = {}
        # oldest first: [group, its ids in the order added, number of the first, next to forget]
        self._runs: deque[tuple[dict[str, int], list[str], int, list[int]]] = deque()
        self._size = 0
        self._next = 0
        self._lock = threading.Lock()

    def seen(self, kind: str, model: str, event_id: str) -> bool:
        with self._lock:
            group = self._groups.get((kind, model))
            return group is not None and event_id in group

    def seen_many(
        self, kind: str, models: Iterable[str], event_ids: Iterable[str]
    ) -> npt.NDArray[np.bool_]:
        """:meth:`seen` for each ``(model, event_id)``, under one lock (looked up per model,
        without a Python-level loop per event)."""
        ms, es = _pairs(models, event_ids)
        out = np.zeros(len(es), dtype=np.bool_)
        groups = _per_model(ms, es)
        with self._lock:
            for model, rows, ids in groups:
                group = self._groups.get((kind, model))
                if group is not None:
                    out[rows] = np.fromiter(map(group.__contains__, ids), np.bool_, len(ids))
        return out

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
        ms, es = _pairs(models, event_ids)
        groups = _per_model(ms, es)
        with self._lock:
            for model, _, ids in groups:
                group = self._groups.setdefault((kind, model), {})
                before = len(group)
                first = self._next
                group.update(zip(ids, range(first, first + len(ids)), strict=True))  # last one wins
                self._next += len(ids)
                self._size += len(group) - before
                self._runs.append((group, ids, first, [0]))
            self._forget()

    def _forget(self) -> None:
        """Forget the oldest until ``capacity`` remain.

        Along the oldest run, an id whose number is still its place's (not added again
        since) is deleted, until the size is down to ``capacity``. As many places as
        ids are to go are popped at once (one look-up each); if one of them was added
        again since, they are put back and the run is walked one id at a time.
        """
        runs = self._runs
        while self._size > self.capacity:
            group, ids, first, cursor = runs[0]
            i = cursor[0]
            taken = ids[i : i + self._size - self.capacity]
            numbers = np.fromiter(map(group.pop, taken, repeat(-1)), np.int64, len(taken))
            own = numbers == np.arange(first + i, first + i + len(taken))
            if own.all():  # the usual case: none added again since
                self._size -= len(taken)
                i += len(taken)
            else:  # put them back, then one at a time
                for key, number in zip(taken, numbers.tolist(), strict=True):
                    if number >= 0:
                        group[key] = number
                while i < len(ids) and self._size > self.capacity:
                    if group.get(ids[i]) == first + i:  # not added again since
                        del group[ids[i]]
                        self._size -= 1
                    i += 1
            cursor[0] = i
            if i == len(ids):
                runs.popleft()
        while runs and runs[0][3][0] == len(runs[0][1]):
            runs.popleft()

    def pairs(self) -> list[tuple[str, str, str]]:
        """Every remembered ``(kind, model, event_id)``, oldest first."""
        out = []
        with self._lock:
            kinds = {id(g): key for key, g in self._groups.items()}
            for group, ids, first, cursor in self._runs:
                kind, model = kinds[id(group)]
                for i in range(cursor[0], len(ids)):
                    if group.get(ids[i]) == first + i:
                        out.append((kind, model, ids[i]))
        return out

    def __len__(self) -> int:
        return self._size


def _pairs(models: Iterable[str], event_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    ms, es = list(models), list(event_ids)
    if len(ms) != len(es):
        raise ValueError(f"{len(ms)} models for {len(es)} event ids")
    return ms, es


def _per_model(
    models: list[str], event_ids: list[str]
) -> list[tuple[str, slice | npt.NDArray[np.int64], list[str]]]:
    """``(model, rows, ids)`` per model in order of first appearance, each model's ids in
    batch order: one slice for the usual batch of one model, else grouped by
    factorizing (models interleaved event by event cost no Python work per event).

    >>> [(m, ids) for m, _, ids in _per_model(["a", "b", "a"], ["1", "2", "3"])]
    [('a', ['1', '3']), ('b', ['2'])]
    """
    if not models:
        return []
    if models.count(models[0]) == len(models):
        return [(models[0], slice(0, len(models)), event_ids)]
    codes, names = factorize(np.asarray(models, dtype=object))
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    ids = np.asarray(event_ids, dtype=object)
    return [
        (str(model), rows, ids[rows].tolist())
        for model, rows in zip(names.tolist(), np.split(order, cuts), strict=True)
    ]
