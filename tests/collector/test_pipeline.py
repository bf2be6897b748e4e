"""The pipeline on in-memory stores: ordering, idempotency, retries, dead letters."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.monitoring.helpers import prediction

from driftd.baselines import create_baseline
from driftd.batch import PredictionBatch
from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.messages import Message
from driftd.collector.pipeline import (
    Pipeline,
    Retry,
    _chosen,
    _dedup_token,
    batch_dedup_token,
    chosen_ids,
)
from driftd.collector.scrub import Scrubber
from driftd.errors import StorageDataError, StorageError
from driftd.events import Coordinates
from driftd.metrics import Metrics
from driftd.monitoring import DriftMonitor, StorageSink
from driftd.storage.base import as_batch
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore


class FlakyStore(InMemoryEventStore):
    """Fails the first ``failures`` prediction inserts, like a ClickHouse restart."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def insert_predictions(self, records: Any, dedup_token: str | None = None) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StorageError("connection refused")
        super().insert_predictions(records, dedup_token)


def build(
    store: InMemoryEventStore | None = None,
    *,
    window: int = 10,
    stopping: threading.Event | None = None,
) -> tuple[Pipeline, MemoryDeadLetters]:
    store = store or InMemoryEventStore()
    control = InMemoryControlStore()
    store.migrate()
    control.migrate()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=500), "p": rng.random(500)})
    create_baseline(store, control, frame, "m", "v1", prediction="p")
    letters = MemoryDeadLetters()
    pipeline = Pipeline(
        store=store,
        monitor=DriftMonitor(store, control, window_size=window, sinks=[StorageSink(store)]),
        scrubber=Scrubber({"user_id": "hash"}, hmac_key=b"k" * 16),
        dead_letters=letters,
        metrics=Metrics(),
        retry=Retry(0.001, 0.01, stopping),
    )
    return pipeline, letters


def kafka_msgs(n: int, start: int = 0, **extra: Any) -> list[Message]:
    return [
        Message("predictions",
                orjson.dumps({"model": "m", "features": {"x": i / 10}, "prediction": 0.5, **extra}),
                Coordinates("p", 0, start + i))
        for i in range(n)
    ]  # fmt: skip


def test_valid_stored_invalid_dead_lettered_windows_judged() -> None:
    pipeline, letters = build()
    msgs = kafka_msgs(25)
    msgs.insert(3, Message("predictions", b"{oops", Coordinates("p", 0, 99)))
    msgs.append(Message("outcomes", {"model": "m", "request_id": "r", "outcome": 1}))
    result = pipeline.process(msgs)
    store = pipeline.store
    assert store.count("predictions") == 25 and store.count("outcomes") == 1
    assert result.windows_closed == 2
    assert [(d.reason, d.index, d.payload) for d in letters.letters] == [("invalid_json", 3, None)]
    assert store.query_drift("m", 0, 2**62, feature="x")


def test_redelivered_batch_is_stored_once_and_counted_once() -> None:
    pipeline, _ = build(window=10)
    msgs = kafka_msgs(15)
    pipeline.process(msgs)
    pipeline.process(msgs)  # Kafka redelivers the same batch (commit lost)
    assert pipeline.store.count("predictions") == 15
    assert len(pipeline.store.query_drift("m", 0, 2**62, feature="x", metric="psi")) == 1


def test_messages_marked_stored_are_not_written_again() -> None:
    pipeline, _ = build()
    msgs = kafka_msgs(5)
    for m in msgs[:3]:
        m.stored = True
    result = pipeline.process(msgs)
    assert result.stored == 2 and len(result.batch) == 5


def test_a_redelivered_batch_does_not_dead_letter_again_below_the_stored_mark() -> None:
    """After a crash between storing and committing, the source marks the redelivered
    messages at or below the stored high-water mark ``stored``: their dead letters
    went out with the first delivery. One above the mark still goes out."""
    pipeline, letters = build()
    first = kafka_msgs(6)
    first[2] = Message("predictions", b"{oops", Coordinates("p", 0, 2))
    pipeline.process(first)
    assert [d.source.offset for d in letters.letters if d.source] == [2]
    again = [*kafka_msgs(6), Message("predictions", b"[1]", Coordinates("p", 0, 6))]
    again[2] = Message("predictions", b"{oops", Coordinates("p", 0, 2))
    for m in again[:6]:
        m.stored = True  # offsets 0-5: at or below the stored mark
    result = pipeline.process(again)
    assert [d.source.offset for d in letters.letters if d.source] == [2, 6]
    assert [d.index for d in result.dead_letters] == [2, 6]  # the batch still names both
    assert pipeline.store.count("predictions") == 5
    counted = {  # the metric counts what the sink got, not the letter held back
        reason: pipeline.metrics.registry.get_sample_value(
            "driftd_dead_letters_total", {"kind": "predictions", "reason": reason}
        )
        for reason in ("invalid_json", "not_an_object")
    }
    assert counted == {"invalid_json": 1, "not_an_object": 1}
    received = pipeline.metrics.registry.get_sample_value(
        "driftd_events_received_total", {"kind": "predictions"}
    )
    assert received == 6 + 7  # both deliveries, valid and invalid alike


def test_storage_failures_are_retried_until_they_pass() -> None:
    store = FlakyStore(failures=3)
    pipeline, _ = build(store)
    pipeline.process(kafka_msgs(4))
    assert store.calls == 4 and store.count("predictions") == 4
    assert pipeline.metrics.registry.get_sample_value("driftd_storage_retries_total") == 3


def test_a_stopping_daemon_gives_up_instead_of_retrying_forever() -> None:
    stopping = threading.Event()
    store = FlakyStore(failures=10**9)
    pipeline, _ = build(store, stopping=stopping)
    stopping.set()
    with pytest.raises(StorageError):
        pipeline.process(kafka_msgs(2))
    assert store.count("predictions") == 0


def test_unknown_model_dead_letter_keeps_only_the_scrubbed_payload() -> None:
    pipeline, letters = build()
    raw = {"model": "ghost", "features": {"x": 1, "user_id": "u1", "password": "pw"},
           "prediction": 1}  # fmt: skip
    pipeline.process([Message("predictions", raw)])
    (letter,) = letters.letters
    assert letter.reason == "unknown_model" and letter.payload is not None
    assert "password" not in letter.payload["features"]
    assert letter.payload["features"]["user_id"] != "u1"


def test_non_object_items_from_http_are_dead_lettered() -> None:
    pipeline, letters = build()
    pipeline.process([Message("predictions", 42)])  # type: ignore[arg-type]
    assert [d.reason for d in letters.letters] == ["not_an_object"]


def test_retry_validates() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Retry(0, 1)


def test_an_unexpected_validator_failure_becomes_a_dead_letter() -> None:
    pipeline, letters = build()

    def broken(model: str) -> bool:
        raise RuntimeError("bug")

    pipeline.validator.known_model = broken
    result = pipeline.process(kafka_msgs(2))
    assert [d.reason for d in letters.letters] == ["unprocessable", "unprocessable"]
    assert letters.letters[0].detail == "RuntimeError" and result.stored == 0


class RefusesTagged(InMemoryEventStore):
    """Refuses, as data, every prediction batch holding an event tagged ``poison``."""

    def insert_predictions(self, records: Any, dedup_token: str | None = None) -> None:
        if "poison" in as_batch(records).cat.get("tag", ()):
            raise StorageDataError("cannot parse the value")
        super().insert_predictions(records, dedup_token)


def test_a_refused_row_is_dead_lettered_with_the_payload_the_validator_scrubbed() -> None:
    store = RefusesTagged()
    pipeline, letters = build(store, window=100)
    msgs = kafka_msgs(6)
    msgs[4] = Message(
        "predictions",
        orjson.dumps({"model": "m", "features": {"x": 1, "tag": "poison", "user_id": "u1",
                                                 "password": "pw"}, "prediction": 0.5}),
        Coordinates("p", 0, 4),
    )  # fmt: skip
    expected = pipeline.validator.run(msgs)
    (scrubbed,) = [obj for _, index, obj in expected.origin.values() if index == 4]
    result = pipeline.process(msgs)
    (letter,) = letters.letters
    assert (letter.reason, letter.index, letter.source) == ("unstorable", 4, msgs[4].source)
    assert letter.payload == scrubbed and letter.payload["features"]["user_id"] != "u1"
    assert "password" not in letter.payload["features"]
    assert result.stored == store.count("predictions") == 5
    assert len(result.batch) == 5 and all(
        r.cat.get("tag") is None for r in result.batch.to_records()
    )
    window = pipeline.monitor._windows[("m", "v1")]
    assert window.counts is not None and window.counts.n == 5  # the refused row is not judged


def test_a_clients_repeat_is_neither_stored_nor_judged_again() -> None:
    pipeline, _ = build(window=100)
    event = {"model": "m", "features": {"x": 0.1}, "prediction": 0.5}
    msgs = [Message("predictions", {**event, "event_id": e}) for e in ("a", "b", "a")]
    result = pipeline.process(msgs)
    assert (result.stored, result.repeated) == (2, 1)
    again = pipeline.process([Message("predictions", {**event, "event_id": "b"})])
    assert (again.stored, again.repeated) == (0, 1)
    window = pipeline.monitor._windows[("m", "v1")]
    assert window.counts is not None and window.counts.n == 2


_ids = st.sampled_from(["", "a", "b", "t/0/1", "t/0/2", "u/1/2"])
_sources = st.none() | st.builds(
    Coordinates, st.sampled_from(["t", "u", "v/w"]), st.integers(0, 11), st.integers(0, 3)
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(_ids, st.sampled_from(["m", "n"]), _sources), max_size=30))
def test_repeats_and_tokens_per_column_equal_the_per_record_rules(
    rows: list[tuple[str, str, Coordinates | None]],
) -> None:
    records = [
        prediction(i, event_id=event_id, model=model, source=source)
        for i, (event_id, model, source) in enumerate(rows)
    ]
    batch = PredictionBatch.from_records(records)
    assert chosen_ids(batch).tolist() == [_chosen(r) for r in records]
    assert batch_dedup_token("predictions", batch) == _dedup_token("predictions", records)
    pipeline = _remembering()  # repeats: in the batch or stored recently, per column or record
    repeated: set[int] = set()
    pipeline._fresh("predictions", records, repeated)
    fresh = pipeline._fresh_rows(batch, chosen_ids(batch))
    assert fresh.tolist() == [id(r) not in repeated for r in records]


_REMEMBERING: list[Pipeline] = []


def _remembering() -> Pipeline:
    """One pipeline that stored ``a`` of model ``m`` and ``t/0/2`` of ``n`` (read only)."""
    if not _REMEMBERING:
        pipeline, _ = build()
        pipeline.recent.add("predictions", [("m", "a"), ("n", "t/0/2")])
        _REMEMBERING.append(pipeline)
    return _REMEMBERING[0]
