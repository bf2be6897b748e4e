"""End to end, the columnar fast path and the exact per-event path are indistinguishable.

The same Kafka batches (clean events, every odd event the fast-path tests know, the
poison corpus, redelivered messages) go through two pipelines on real embedded
ClickHouse, one with ``collector.fast_path`` on and one with it off. Stored rows, dead
letters (reason, detail, position, source, scrubbed payload), window counts,
checkpoints and every verdict must be the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from tests.collector.test_fastpath import ODD, event, scrubber
from tests.integration.poison_corpus import CORPUS

from driftd.baselines import create_baseline
from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.messages import Message
from driftd.collector.pipeline import Pipeline, Retry
from driftd.events import Coordinates
from driftd.metrics import Metrics
from driftd.monitoring.monitor import DriftMonitor
from driftd.monitoring.results import WindowResult
from driftd.storage import EventStore
from driftd.storage.memory import InMemoryControlStore

MODELS = ("credit-0", "credit-1")
WINDOW = 200
RECEIVED = 1_800_000_000_000  # arrival time: raw rows live for the TTL from it


class ListSink:
    def __init__(self) -> None:
        self.rows: list[WindowResult] = []

    def publish(self, rows: list[WindowResult]) -> None:
        self.rows.extend(rows)


def baseline_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2_000
    return pd.DataFrame(
        {
            "inc": rng.normal(52_000, 5_000, n),
            "age": rng.integers(20, 70, n),
            "ctry": rng.choice(["DE", "FR", "ES"], n),
            "card": rng.choice(["true", "false"], n),
            "p": rng.random(n),
        }
    )


class Side:
    """One pipeline (fast or exact) on its own ClickHouse database."""

    def __init__(self, url: str, database: str, fast: bool) -> None:
        self.store = EventStore.connect(url, database)
        self.control = InMemoryControlStore()
        self.store.migrate()
        self.control.migrate()
        for seed, model in enumerate(MODELS):
            create_baseline(
                self.store, self.control, baseline_frame(seed), model, "2026-11-01", prediction="p"
            )
        self.sink = ListSink()
        self.letters = MemoryDeadLetters()
        self.pipeline = Pipeline(
            store=self.store,
            monitor=DriftMonitor(self.store, self.control, window_size=WINDOW, sinks=[self.sink]),
            scrubber=scrubber(),
            dead_letters=self.letters,
            metrics=Metrics(),
            retry=Retry(0.001, 0.01),
        )
        self.pipeline.validator.fast = fast

    def stored(self) -> list[tuple[Any, ...]]:
        out = []
        for model in MODELS:
            for r in self.store.read_predictions(model, 0, 2**62):
                out.append(
                    (r.source.offset if r.source else -1, r.event_id, r.model, r.model_version,
                     r.timestamp_ms, r.received_ms, r.request_id, sorted(r.num.items()),
                     sorted(r.cat.items()), sorted(r.nulls), r.pred_num, r.pred_label,
                     sorted(r.pred_proba.items()), sorted(r.segments.items()), r.latency_ms)
                )  # fmt: skip
        return sorted(out, key=lambda row: (row[0], row[1]))

    def dead_letters(self) -> list[tuple[Any, ...]]:
        return [
            (d.kind, d.reason, d.detail, d.index, d.source, repr(d.payload))
            for d in self.letters.letters
        ]

    def verdicts(self) -> list[tuple[Any, ...]]:
        def value(x: float | None) -> Any:
            return "nan" if x is not None and math.isnan(x) else x

        return sorted(
            (r.model, r.baseline_version, r.window_id, r.segment, r.feature, r.metric, r.n,
             value(r.value), value(r.p_value), value(r.effect_size), r.severity,
             r.window_start_ms, r.window_end_ms)
            for r in self.sink.rows
        )  # fmt: skip

    def windows(self) -> dict[tuple[str, str], str]:
        self.pipeline.monitor.checkpoint()
        return {
            key: orjson.dumps(window.state(), option=orjson.OPT_SORT_KEYS).decode()
            for key, window in self.pipeline.monitor._windows.items()
        }


@pytest.fixture
def sides(chdb_url: str, database: str) -> Iterator[tuple[Side, Side]]:
    fast, exact = Side(chdb_url, database, True), Side(chdb_url, f"{database}_exact", False)
    try:
        yield fast, exact
    finally:
        fast.store.close()
        exact.store.close()


def batches() -> list[list[bytes]]:
    """Three Kafka batches: clean events with odd ones and poison spread through them."""
    rng = np.random.default_rng(7)
    odd = [orjson.dumps(e) for e in ODD] + [bad for bad, _ in CORPUS]
    values: list[bytes] = []
    for i in range(1_500):
        e = event(i)
        e["features"]["inc"] = float(rng.normal(60_000 if i > 700 else 52_000, 5_000))
        values.append(orjson.dumps(e))
        if i % 17 == 3 and odd:
            values.append(odd.pop())
    values += odd
    third = len(values) // 3
    return [values[:third], values[third : 2 * third], values[2 * third :]]


def test_fast_and_exact_paths_store_reject_count_and_judge_identically(
    sides: tuple[Side, Side],
) -> None:
    fast, exact = sides
    offset = 0
    for values in batches():
        msgs = {True: [], False: []}  # type: dict[bool, list[Message]]
        for v in values:
            for side in (True, False):
                msgs[side].append(
                    Message("predictions", v, Coordinates("p", 0, offset), received_ms=RECEIVED)
                )
            offset += 1
        got, want = fast.pipeline.process(msgs[True]), exact.pipeline.process(msgs[False])
        assert (got.stored, got.windows_closed, got.repeated) == (
            want.stored,
            want.windows_closed,
            want.repeated,
        )
    # a redelivered batch (a commit lost): nothing stored or counted twice, on both sides
    for side in (fast, exact):
        redelivered = [
            Message("predictions", v, Coordinates("p", 0, i), received_ms=RECEIVED)
            for i, v in enumerate(batches()[0])
        ]
        side.pipeline.process(redelivered)

    assert fast.pipeline.validator.fastpath.fallbacks > 0  # the odd events were handed over
    assert len(fast.stored()) > 1_400
    assert fast.stored() == exact.stored()
    assert len(fast.dead_letters()) > 50
    assert fast.dead_letters() == exact.dead_letters()
    assert len(fast.sink.rows) > 0 and any(r.severity != "ok" for r in fast.sink.rows)
    assert fast.verdicts() == exact.verdicts()
    assert fast.windows() == exact.windows()
