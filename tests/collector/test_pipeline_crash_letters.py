"""A crash anywhere in a batch (an insert, a dead-letter publish) loses no dead letter:
the invariant `Pipeline._process` relies on to skip those of messages marked ``stored``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.collector.test_pipeline import build

from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.messages import Kind, Message
from driftd.errors import StorageDataError
from driftd.events import Coordinates
from driftd.storage.base import as_batch
from driftd.storage.memory import InMemoryEventStore


class Crash(BaseException):
    """The process dies: no ``except`` of the pipeline's catches it."""


class Budget:
    """Steps left before the crash."""

    def __init__(self, n: int) -> None:
        self.n = n

    def spend(self) -> None:
        self.n -= 1
        if self.n < 0:
            raise Crash


class CrashingStore(InMemoryEventStore):
    """Dies at its budget's end; refuses, as data, rows tagged ``poison``."""

    budget = Budget(10**9)

    def insert_predictions(self, records: Any, dedup_token: str | None = None) -> None:
        self.budget.spend()
        if "poison" in as_batch(records).cat.get("tag", ()):
            raise StorageDataError("cannot parse the value")
        super().insert_predictions(records, dedup_token)

    def insert_outcomes(self, records: Any, dedup_token: str | None = None) -> None:
        self.budget.spend()
        if any(r.outcome_label == "poison" for r in records):
            raise StorageDataError("cannot parse the value")
        super().insert_outcomes(records, dedup_token)


class CrashingSink(MemoryDeadLetters):
    """Dies at its budget's end, before the letters are kept or (``after``) after."""

    budget = Budget(10**9)
    after = False

    def publish(self, letters: Any) -> None:
        if self.after:
            super().publish(letters)
            self.budget.spend()
        else:
            self.budget.spend()
            super().publish(letters)


def corpus() -> list[tuple[Kind, str, int, int, bytes]]:
    out: list[tuple[Kind, str, int, int, bytes]] = []
    for p in (0, 1):
        for o in range(12):
            if o in (3, 10):
                v = b"{oops"
            elif o in (5, 6):
                v = orjson.dumps(
                    {"model": "m", "features": {"x": 1, "tag": "poison"}, "prediction": 0.5}
                )
            else:
                v = orjson.dumps({"model": "m", "features": {"x": o}, "prediction": 0.5})
            out.append(("predictions", "p", p, o, v))
    for o in range(8):
        if o == 2:
            v = b"[1]"
        elif o == 4:
            v = orjson.dumps({"model": "m", "request_id": f"r{o}", "outcome": "poison"})
        else:
            v = orjson.dumps({"model": "m", "request_id": f"r{o}", "outcome": 1})
        out.append(("outcomes", "o", 0, o, v))
    # interleave partitions as a poll would return them
    return sorted(out, key=lambda t: (t[3], t[1], t[2]))


BAD = {("p", p, o) for p in (0, 1) for o in (3, 10, 5, 6)} | {("o", 0, 2), ("o", 0, 4)}


def _run(k: int, where: str, after: bool, cut: int | None) -> bool:
    """One crash at the ``k``-th insert or publish, then a new collector; False when
    nothing crashed (``k`` beyond the batch's last step)."""
    store = CrashingStore()
    pipeline, _ = build(store, window=1000)
    sink = CrashingSink()
    sink.after = after
    pipeline.dead_letters = sink
    store.budget = Budget(k if where == "store" else 10**9)
    sink.budget = Budget(k if where == "sink" else 10**9)
    items = corpus()
    try:
        pipeline.process([Message(kind, v, Coordinates(t, p, o)) for kind, t, p, o, v in items])
        crashed = False
    except Crash:
        crashed = True
    store.budget = sink.budget = Budget(10**9)
    # a new collector: the marks from storage, the batch redelivered (maybe cut differently)
    again, _ = build(store, window=1000)
    again.dead_letters = sink
    marks = {
        (topic, partition): offset
        for kind, topic in (("predictions", "p"), ("outcomes", "o"))
        for partition, offset in store.stored_offsets(kind, topic, [0, 1]).items()  # type: ignore[arg-type]
    }
    msgs = [
        Message(kind, v, Coordinates(t, p, o), 0, o <= marks.get((t, p), -1))
        for kind, t, p, o, v in items
    ]
    for chunk in [msgs] if cut is None else [msgs[:cut], msgs[cut:]]:
        again.process(chunk)
    lettered = {
        (d.source.topic, d.source.partition, d.source.offset) for d in sink.letters if d.source
    }
    stored = {
        (r.source.topic, r.source.partition, r.source.offset)
        for kind in ("predictions", "outcomes")
        for r in store._events(kind)
        if r.source is not None
    }
    assert not BAD - lettered, (k, sorted(BAD - lettered))
    assert stored | lettered == {(t, p, o) for _, t, p, o, _ in items}
    return crashed


@pytest.mark.parametrize("after", [False, True], ids=["before-publish", "after-publish"])
@pytest.mark.parametrize("where", ["store", "sink"])
@pytest.mark.parametrize("cut", [None, 7])
def test_no_dead_letter_is_lost_to_a_crash_anywhere(
    where: str, after: bool, cut: int | None
) -> None:
    """Bisection of refused rows, both topics, interleaved partitions: wherever the
    collector dies, the next one (marking messages at or below the stored high-water
    marks ``stored``) leaves every message stored or dead-lettered."""
    k = 0
    while _run(k, where, after, cut):
        k += 1
    assert k >= 6  # the batch had that many steps to die in (publishes: 1 + 5 refused)
