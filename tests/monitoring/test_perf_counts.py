"""The performance recompute reads unlabelled predictions as counts, with results
identical to joining every prediction of the window as an object (the oracle)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

import pytest

from driftd.events import OutcomeRecord, PredictionRecord
from driftd.monitoring.perf_windows import WindowSpec, window_results
from driftd.monitoring.performance import DAY_MS, PerformanceMonitor, PerformancePlan
from driftd.monitoring.results import WindowResult
from driftd.storage import EventStore, InMemoryControlStore, InMemoryEventStore
from driftd.storage.base import EventStoreProtocol
from driftd.storage.records import LabelledPrediction
from tests.monitoring.perf_helpers import T0, Clock, Collect, add_baseline

WINDOW_MS = 100_000


@pytest.fixture(params=["chdb", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStoreProtocol]:
    if request.param == "memory":
        memory = InMemoryEventStore()
        memory.migrate()
        yield memory
        return
    chdb_url = request.getfixturevalue("chdb_url")
    chdb = EventStore.connect(chdb_url, database=f"perfcount_{uuid.uuid4().hex[:12]}")
    chdb.migrate()
    try:
        yield chdb
    finally:
        chdb.client.command(f"DROP DATABASE IF EXISTS {chdb.database}")
        chdb.close()


def _prediction(
    eid: str, ts: int, rid: str, label: str, segments: dict[str, str]
) -> PredictionRecord:
    p_yes = 0.8 if label == "yes" else 0.3
    return PredictionRecord(
        eid, "m", "", ts, ts, rid, {"x": 1.0}, {}, [], p_yes, label,
        {"yes": p_yes, "no": 1 - p_yes}, segments, None,
    )  # fmt: skip


def _outcome(rid: str, label: str, ts: int, eid: str) -> OutcomeRecord:
    return OutcomeRecord(eid, "m", rid, ts, ts, None, label)


def _fill(store: EventStoreProtocol) -> None:
    """Three windows: the first with hand-made ties in segment counts (that the first
    appearance breaks), segments without a label; the others random; duplicates,
    corrections, rows without a request id or a segment key, labels past the horizon."""
    rng = random.Random(7)
    predictions: list[PredictionRecord] = []
    outcomes: list[OutcomeRecord] = []
    # window 0: region zz, mm, aa each 2 rows, bb 1: the two biggest are zz and mm (first
    # seen), not aa; tier=gold is never labelled; equal timestamps ordered by event id
    regions = ["zz", "mm", "aa", "zz", "mm", "aa", "bb"]
    for i, region in enumerate(regions):
        seg = {"region": region}
        if i % 2:
            seg["tier"] = "gold"
        elif i % 3 == 0:
            seg["tier"] = "free"
        ts = T0 + 1_000 * (i // 2)
        eid = f"e0-{9 - i}"  # equal timestamps: the later row has the smaller event id
        predictions.append(_prediction(eid, ts, f"w0-{i}", "yes", seg))
        if "gold" not in seg.values():
            outcomes.append(_outcome(f"w0-{i}", rng.choice(["yes", "no"]), ts + 500, f"o0-{i}"))
    for i in range(1, 900):
        ts = T0 + WINDOW_MS + rng.randrange(2 * WINDOW_MS) // 50 * 50
        seg = {"region": rng.choice(["eu", "us", "ap", "sa", "af"])}
        if rng.random() < 0.6:
            seg["tier"] = rng.choice(["a", "b", "c", "d"])
        rid = "" if rng.random() < 0.05 else f"r{i}"
        predictions.append(_prediction(f"e{i:05d}", ts, rid, rng.choice(["yes", "no"]), seg))
        if rid and rng.random() < 0.4:
            late = ts + rng.randrange(3 * DAY_MS)
            outcomes.append(_outcome(rid, rng.choice(["yes", "no"]), late, f"o{i}"))
            if rng.random() < 0.2:  # corrected later
                outcomes.append(_outcome(rid, rng.choice(["yes", "no"]), late + 9, f"c{i}"))
    rng.shuffle(predictions)
    store.insert_predictions(predictions)
    store.insert_predictions(predictions[:50], dedup_token="again")  # duplicate rows
    store.insert_outcomes(outcomes)


def _old_segments(
    plan: PerformancePlan, rows: Sequence[LabelledPrediction]
) -> list[tuple[str, list[LabelledPrediction]]]:
    """The recompute's segment choice before it read counts (every row an object)."""
    out = []
    for key in plan.segment_keys:
        groups: dict[str, list[LabelledPrediction]] = {}
        for r in rows:
            if key in r.segments:
                groups.setdefault(f"{key}={r.segments[key]}", []).append(r)
        biggest = Counter({k: len(v) for k, v in groups.items()}).most_common(plan.max_segments)
        out += [(name, groups[name]) for name, _ in sorted(biggest)]
    return out


def _oracle(
    store: EventStoreProtocol,
    plan: PerformancePlan,
    starts: list[int],
    baseline: tuple[str, Mapping[str, float]] = ("v1", {"accuracy": 0.9, "log_loss": 0.5}),
) -> list[WindowResult]:
    """The results of ``starts`` as the recompute made them before it read counts."""
    spec = WindowSpec("m", *baseline, plan.policy, plan.window_ms, plan.resamples)
    out: list[WindowResult] = []
    for start in starts:
        rows = store.read_labelled("m", start, start + plan.window_ms, plan.horizon_ms)
        out += window_results(spec, start, rows)
        for segment, part in _old_segments(plan, rows):
            out += window_results(spec, start, part, segment)
    return out


@pytest.mark.parametrize("max_segments", [2, 3, 20])
def test_counted_windows_give_the_results_of_every_row_read(
    store: EventStoreProtocol, max_segments: int
) -> None:
    _fill(store)
    control = InMemoryControlStore()
    control.migrate()
    add_baseline(store, control, accuracy=0.9, log_loss=0.5)
    plan = PerformancePlan(
        window_ms=WINDOW_MS,
        horizon_ms=2 * DAY_MS,
        segment_keys=("region", "tier", "absent", "region"),
        max_segments=max_segments,
        resamples=30,
    )
    collect = Collect()
    clock = Clock(T0 + 3 * WINDOW_MS)
    PerformanceMonitor(store, control, [collect], plan, clock).recompute()
    starts = [T0 // WINDOW_MS * WINDOW_MS + k * WINDOW_MS for k in range(4)]
    expected = _oracle(store, plan, starts)
    assert collect.results == expected
    segments = {r.segment for r in collect.results}
    if max_segments == 2:  # the tie is broken by first appearance, as before
        first = {r.segment for r in collect.results if r.window_start_ms == starts[0]}
        assert {"region=zz", "region=mm"} <= first and "region=aa" not in first
    assert any(r.metric == "log_loss_ci_low" for r in collect.results)
    gold = [r for r in collect.results if r.segment == "tier=gold"]
    assert [(r.metric, r.value, r.n) for r in gold] == [("labelled_fraction", 0.0, 3)]
    assert "" in segments and not any(s.startswith("absent=") for s in segments)


def test_a_window_of_unlabelled_predictions_is_counted_not_read(
    store: EventStoreProtocol,
) -> None:
    n = 10_000
    store.insert_predictions(
        [
            _prediction(f"u{i:05d}", T0 + i, f"u{i}", "yes", {"region": "eu" if i % 4 else "us"})
            for i in range(n)
        ]
    )
    window = store.read_window("m", T0, T0 + WINDOW_MS, DAY_MS, ("region",))
    assert window.labelled == []
    assert window.total == n
    assert window.segments == {"region": [("us", n // 4), ("eu", n - n // 4)]}

    read: list[int] = []
    joined = store.read_labelled

    def counting(model: str, from_ms: int, to_ms: int, horizon_ms: int) -> list:  # type: ignore[type-arg]
        rows = joined(model, from_ms, to_ms, horizon_ms)
        read.append(len(rows))
        return rows

    store.read_labelled = counting  # type: ignore[method-assign]
    control = InMemoryControlStore()
    control.migrate()
    collect = Collect()
    plan = PerformancePlan(window_ms=WINDOW_MS, segment_keys=("region",))
    PerformanceMonitor(store, control, [collect], plan, Clock(T0 + WINDOW_MS)).recompute()
    assert read == []  # no per-row join of the window
    assert [(r.segment, r.metric, r.value, r.n) for r in collect.results] == [
        ("", "labelled_fraction", 0.0, n),
        ("region=eu", "labelled_fraction", 0.0, n - n // 4),
        ("region=us", "labelled_fraction", 0.0, n // 4),
    ]
