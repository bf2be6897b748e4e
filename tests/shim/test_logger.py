"""The prediction logger against an in-memory transport: contract, queue, outage, shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.events import parse_outcome, parse_prediction
from driftd.shim import FieldScrubber, MemoryTransport, PredictionLogger, SendResult
from driftd.shim.transports import Record


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def make(transport: Any = None, **kwargs: Any) -> tuple[PredictionLogger, MemoryTransport]:
    memory = transport or MemoryTransport()
    kwargs.setdefault("register_atexit", False)
    kwargs.setdefault("flush_interval_s", 0.01)
    kwargs.setdefault("retry_initial_s", 0.01)
    kwargs.setdefault("retry_max_s", 0.05)
    return PredictionLogger("credit-risk", "v1", transport=memory, **kwargs), memory


feature_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=False),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    features=st.dictionaries(st.text(min_size=1, max_size=20), feature_values, max_size=12),
    prediction=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
        st.booleans(),
        st.dictionaries(
            st.sampled_from(["a", "b", "c"]),
            st.floats(min_value=0, max_value=1),
            min_size=1,
        ),
    ),
    segments=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    latency=st.none() | st.floats(min_value=0, max_value=1e6),
)
def test_every_emitted_event_passes_driftds_validator(
    features: dict[str, Any], prediction: Any, segments: dict[str, str], latency: float | None
) -> None:
    log, memory = make()
    rid = log.log_prediction(features, prediction, segments=segments, latency_ms=latency)
    log.log_outcome(rid, prediction if not isinstance(prediction, dict) else "a")
    log.close()
    (pkind, pred), (okind, outcome) = memory.events
    assert (pkind, okind) == ("predictions", "outcomes")
    record = parse_prediction(pred, received_ms=0)
    assert record.request_id == rid and record.model == "credit-risk"
    assert record.model_version == "v1" and record.event_id
    assert len(record.num) + len(record.cat) + len(record.nulls) == len(features)
    assert record.latency_ms == latency
    assert parse_outcome(outcome, received_ms=0).request_id == rid


def test_numpy_values_become_plain_json() -> None:
    log, memory = make()
    log.log_prediction(
        {"age": np.int64(41), "income": np.float32(1.5), "gone": np.float64("nan")},
        np.array([0.25]),
    )
    log.close()
    record = parse_prediction(memory.events[0][1], received_ms=0)
    assert record.num == {"age": 41.0, "income": 1.5} and record.nulls == ["gone"]
    assert record.pred_num == 0.25


def test_request_ids_are_unique_and_event_ids_stable() -> None:
    log, memory = make()
    ids = [log.log_prediction({"x": i}, i) for i in range(1000)]
    log.close()
    assert len(set(ids)) == 1000
    assert [e["request_id"] for _, e in memory.events] == ids
    assert len({e["event_id"] for _, e in memory.events}) == 1000


class Blocked:
    """A transport that holds the background thread until released."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()
        self.memory = MemoryTransport()

    def send(self, records: list[Record]) -> SendResult:
        self.release.wait(30)
        return self.memory.send(records)

    def close(self) -> None:
        return None


@pytest.mark.parametrize("drop", ["oldest", "newest"])
def test_a_full_queue_drops_and_counts(drop: str) -> None:
    blocked = Blocked()
    log, _ = make(blocked, queue_size=10, batch_size=1, drop=drop)
    log.log_prediction({"x": -1}, 0)  # taken by the thread, which then blocks
    wait_for(lambda: log.stats.queue_depth == 0)
    for i in range(25):
        log.log_prediction({"x": i}, i)
    assert log.stats.dropped_queue_full == 15 and log.stats.queue_depth == 10
    blocked.release.set()
    log.close()
    xs = [e["features"]["x"] for _, e in blocked.memory.events]
    kept = list(range(15, 25)) if drop == "oldest" else list(range(10))
    assert xs == [-1, *kept]
    assert log.stats.delivered == 11 and log.stats.dropped == 15


def test_an_outage_never_raises_and_logging_resumes() -> None:
    log, memory = make(queue_size=100, batch_size=10)
    memory.fail = True
    for i in range(500):
        log.log_prediction({"x": i}, i)  # never raises, never blocks
    wait_for(lambda: log.stats.failed_attempts >= 3)
    assert log.stats.delivered == 0 and log.stats.dropped_queue_full >= 390
    memory.fail = False
    wait_for(lambda: log.stats.delivered == 500 - log.stats.dropped_queue_full)
    for i in range(500, 510):
        log.log_prediction({"x": i}, i)
    assert log.flush(30)
    log.close()
    xs = [e["features"]["x"] for _, e in memory.events]
    assert xs[-10:] == list(range(500, 510)) and len(xs) == len(set(xs))
    assert log.stats.delivered + log.stats.dropped == 510


def test_close_gives_up_at_its_deadline_and_counts_what_was_left() -> None:
    log, memory = make(queue_size=1000)
    memory.fail = True
    for i in range(50):
        log.log_prediction({"x": i}, i)
    log.close(timeout_s=0.2)  # returns although the transport never recovers
    assert log.stats.dropped_at_shutdown == 50 and log.stats.delivered == 0
    log.log_prediction({"x": 1}, 1)  # after close: dropped, not raised
    assert log.stats.dropped_at_shutdown == 51
    log.close()  # twice is fine


def test_scrubbing_runs_before_anything_leaves() -> None:
    scrubber = FieldScrubber(drop=["email"], hash=["user_id"], hmac_key=b"s" * 32)
    log, memory = make(scrubber=scrubber)
    log.log_prediction({"Email": "a@b.c", "user_id": 7, "age": 3}, 1, segments={"email": "x"})
    log.close()
    event = memory.events[0][1]
    assert set(event["features"]) == {"user_id", "age"} and "segments" not in event
    import hashlib
    import hmac

    assert event["features"]["user_id"] == hmac.new(b"s" * 32, b"7", hashlib.sha256).hexdigest()


def test_the_decorator_logs_sync_and_async_predict_functions() -> None:
    log, memory = make()

    @log.watch
    def predict(features: dict[str, float]) -> float:
        return features["x"] * 2

    @log.watch
    async def apredict(features: dict[str, float]) -> float:
        return features["x"] * 3

    assert predict({"x": 2.0}) == 4.0
    assert asyncio.run(apredict({"x": 2.0})) == 6.0
    log.close()
    assert [e["prediction"] for _, e in memory.events] == [4.0, 6.0]
    assert all(e["latency_ms"] >= 0 for _, e in memory.events)


def test_constructor_names_the_bad_parameter() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        PredictionLogger("m", transport=MemoryTransport(), queue_size=0, register_atexit=False)
    with pytest.raises(ValueError, match="drop"):
        PredictionLogger("m", transport=MemoryTransport(), drop="middle", register_atexit=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transport"):
        PredictionLogger("m", register_atexit=False)
    with pytest.raises(ValueError, match="hmac_key"):
        FieldScrubber(hash=["x"])
