"""The monitor gives the same answer however a stream is cut into batches.

Feeding events one at a time is the per-event definition (a batch of one has
nothing to group, filter or chunk); feeding them as columns in batches of any
size, with redeliveries, several models and versions, events without Kafka
coordinates and segment slices past their cap, must close the same windows
with the same results and leave the same checkpoints. Likewise counting every
window's share of a batch in one pass (``Binner.count_chunks``) and counting
each share alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.baselines import create_baseline
from driftd.batch import PredictionBatch
from driftd.detectors import Binner, WindowCounts
from driftd.events import Coordinates, PredictionRecord
from driftd.monitoring import DriftMonitor, WindowPlan
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

from .helpers import prediction


def _stores() -> tuple[InMemoryEventStore, InMemoryControlStore]:
    store, control = InMemoryEventStore(), InMemoryControlStore()
    store.migrate()
    control.migrate()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"x": rng.normal(size=2_000), "c": rng.choice(["a", "b"], 2_000), "p": rng.random(2_000)}
    )
    for model, version in (("m", "v1"), ("m", "v2"), ("n", "v1")):
        create_baseline(store, control, frame, model, version, prediction="p")
    return store, control


STORES = _stores()


@st.composite
def streams(draw: st.DrawFn) -> list[PredictionRecord]:
    out = []
    for i in range(draw(st.integers(1, 80))):
        partition = draw(st.sampled_from([0, 0, 1, None]))
        offset = draw(st.integers(max(0, i - 8), i + 3))  # redeliveries, some out of order
        source = None if partition is None else Coordinates("t", partition, offset)
        segments = {
            k: v
            for k, v in (
                ("region", draw(st.sampled_from([None, "eu", "us", "apac", "latam"]))),
                ("tier", draw(st.sampled_from([None, "gold", "free"]))),
            )
            if v is not None
        }
        out.append(
            prediction(
                i, model=draw(st.sampled_from(["m", "m", "n", "unknown"])),
                model_version=draw(st.sampled_from(["", "v1", "v2", "v9"])),
                timestamp_ms=1_000 * i + draw(st.integers(-3_000, 3_000)),
                num={"x": draw(st.floats(-3, 3))}, cat={"c": draw(st.sampled_from("abz"))},
                pred_num=draw(st.floats(0, 1)), segments=segments, source=source,
            )
        )  # fmt: skip
    return out


def _run(
    plan: WindowPlan, parts: list[list[PredictionRecord]], columns: bool
) -> tuple[list[tuple[str, str, int, list[object]]], dict[str, str]]:
    """Closed windows (in order per model and version: a batch closes the windows of one
    model after another, events one at a time interleave them) and the checkpoints."""
    store, _ = STORES
    control = InMemoryControlStore()
    control.migrate()
    monitor = DriftMonitor(store, control, plans={"m": plan, "n": plan}, clock=lambda: 1.0)
    closed = []
    for part in parts:
        fed = PredictionBatch.from_records(part) if columns else part
        closed += [(w.model, w.baseline_version, w.window_id, w.rows) for w in monitor.observe(fed)]
    monitor.checkpoint()
    states = {key: control.load_checkpoint(key) for key in sorted(monitor._windows)}  # type: ignore[arg-type]
    closed.sort(key=lambda w: (w[0], w[1], w[2]))  # stable: same-key order stays
    return closed, {str(k): str(v) for k, v in states.items()}


@pytest.mark.parametrize("timed", [False, True])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(), cuts=st.lists(st.integers(0, 80), max_size=4))
def test_batches_of_any_size_count_like_one_event_at_a_time(
    timed: bool, stream: list[PredictionRecord], cuts: list[int]
) -> None:
    plan = WindowPlan(
        window_size=7, duration_s=5.0 if timed else None, segment_keys=("region", "tier"),
        max_segments=3, stream_features=("x",),
    )  # fmt: skip
    one_by_one = _run(plan, [[r] for r in stream], columns=False)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    parts = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert _run(plan, parts, columns=True) == one_by_one
    assert _run(plan, [stream], columns=True) == one_by_one


def _count_each_share_alone(
    binner: Binner, batch: PredictionBatch, ends: Sequence[int]
) -> list[WindowCounts]:
    """The per-share path: every share cut out of the batch and counted on its own."""
    return [
        COUNT_CHUNKS(binner, batch.slice(a, b), [b - a])[0]
        for a, b in itertools.pairwise([0, *ends])
    ]


COUNT_CHUNKS = Binner.count_chunks


@pytest.mark.parametrize("timed", [False, True])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=streams(),
    cuts=st.lists(st.integers(0, 80), max_size=3),
    size=st.sampled_from([1, 3, 7, 30]),
)
def test_every_share_counted_in_one_pass_as_each_alone(
    timed: bool, stream: list[PredictionRecord], cuts: list[int], size: int
) -> None:
    """Windows closed, their results and the checkpoints are those of counting each
    window's share of a batch alone."""
    plan = WindowPlan(
        window_size=size, duration_s=3.0 if timed else None, segment_keys=("region",),
        max_segments=2, stream_features=("x",),
    )  # fmt: skip
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    parts = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    with patch.object(Binner, "count_chunks", _count_each_share_alone):
        alone = _run(plan, parts, columns=True)
    assert _run(plan, parts, columns=True) == alone


def test_the_open_window_keeps_grids_of_its_own() -> None:
    """Not views of one array of every share's grids (thousands of cells each)."""
    store, _ = STORES
    control = InMemoryControlStore()
    control.migrate()
    monitor = DriftMonitor(store, control, window_size=4, clock=lambda: 1.0)
    stream = [prediction(i, num={"x": 0.1 * i}, cat={"c": "a"}, pred_num=0.5) for i in range(10)]
    assert len(monitor.observe(PredictionBatch.from_records(stream))) == 2
    (window,) = monitor._windows.values()
    counts = window.counts
    assert counts is not None and counts.n == 2
    assert counts.grids and all(v.base is None for v in counts.grids.values())


def test_a_window_restored_fuller_than_the_window_size_closes_at_once() -> None:
    """Checkpointed under a larger window size: the next batch closes it first, then
    counts into windows of the new size."""
    store, _ = STORES
    control = InMemoryControlStore()
    control.migrate()
    stream = [prediction(i, num={"x": 0.1 * i}, cat={"c": "a"}, pred_num=0.5) for i in range(9)]
    before = DriftMonitor(store, control, window_size=10, clock=lambda: 1.0)
    assert before.process(PredictionBatch.from_records(stream[:6])) == 0
    after = DriftMonitor(store, control, window_size=4, clock=lambda: 1.0)
    closed = after.observe(PredictionBatch.from_records(stream[6:]))
    assert [w.window_id for w in closed] == [0]
    (window,) = after._windows.values()
    assert window.window_id == 1 and window.counts is not None and window.counts.n == 3


def test_a_batch_of_many_windows_is_counted_a_few_shares_at_a_time() -> None:
    """Every share's counts (a grid of up to ~10,000 cells per numeric column each) are not
    held at once: a batch spanning thousands of windows would hold gigabytes."""
    store, _ = STORES
    control = InMemoryControlStore()
    control.migrate()
    monitor = DriftMonitor(store, control, window_size=2, clock=lambda: 1.0)
    stream = [prediction(i, num={"x": 0.1 * i}, cat={"c": "a"}, pred_num=0.5) for i in range(101)]
    calls: list[int] = []

    def spy(binner: Binner, batch: PredictionBatch, ends: Sequence[int]) -> list[WindowCounts]:
        calls.append(len(ends))
        return COUNT_CHUNKS(binner, batch, ends)

    with patch.object(Binner, "count_chunks", spy):
        closed = monitor.observe(PredictionBatch.from_records(stream))
    assert [w.window_id for w in closed] == list(range(50))
    assert sum(calls) == 51 and max(calls) <= 16
    (window,) = monitor._windows.values()
    assert window.counts is not None and window.counts.n == 1
