"""Poison input through the pipeline, on real embedded ClickHouse: every bad event ends as a
dead letter with a reason, the valid events around it are stored exactly once, nothing
retries forever."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.poison_corpus import CORPUS, VALID

from driftd.baselines import create_baseline
from driftd.collector.deadletter import MemoryDeadLetters, StoreDeadLetters, dead_letter_value
from driftd.collector.messages import DeadLetter, Message
from driftd.collector.pipeline import Pipeline, Retry
from driftd.collector.scrub import Scrubber
from driftd.events import Coordinates
from driftd.metrics import Metrics
from driftd.monitoring.monitor import DriftMonitor
from driftd.storage import EventStore
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore


def build(store: Any, stopping: threading.Event | None = None) -> tuple[Pipeline, Any]:
    control = InMemoryControlStore()
    store.migrate()
    control.migrate()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "country": rng.choice(["DE", "FR"], 300),
                          "p": rng.random(300)})  # fmt: skip
    create_baseline(store, control, frame, "m", "v1", prediction="p")
    letters = MemoryDeadLetters()
    pipeline = Pipeline(
        store=store,
        monitor=DriftMonitor(store, control, window_size=50),
        scrubber=Scrubber({}),
        dead_letters=letters,
        metrics=Metrics(),
        retry=Retry(0.001, 0.01, stopping),
    )
    return pipeline, letters


@pytest.fixture
def chdb(chdb_url: str, database: str) -> Iterator[EventStore]:
    store = EventStore.connect(chdb_url, database)
    try:
        yield store
    finally:
        store.close()


def interleave(poison: list[bytes], valid_per_gap: int = 3) -> tuple[list[Message], int]:
    """Valid events around each poison message, on one partition in offset order."""
    msgs: list[Message] = []
    n_valid = 0
    for payload in [*poison, None]:
        for _ in range(valid_per_gap):
            event = {**VALID, "event_id": f"ok-{n_valid}"}
            msgs.append(Message("predictions", orjson.dumps(event)))
            n_valid += 1
        if payload is not None:
            msgs.append(Message("predictions", payload))
    for offset, msg in enumerate(msgs):
        msg.source = Coordinates("t", 0, offset)
    return msgs, n_valid


def test_the_corpus_is_dead_lettered_with_reasons_and_valid_events_stored_once(
    chdb: EventStore,
) -> None:
    pipeline, letters = build(chdb)
    msgs, n_valid = interleave([payload for payload, _ in CORPUS])
    result = pipeline.process(msgs)
    assert [d.reason for d in letters.letters] == [reason for _, reason in CORPUS]
    assert result.stored == n_valid
    assert chdb.count("predictions") == chdb.count_distinct_event_ids("predictions") == n_valid
    pipeline.process(msgs)  # redelivered after a lost commit: nothing stored twice
    assert chdb.count("predictions") == n_valid
    for letter in letters.letters:  # every dead letter can be written, whatever it held
        orjson.loads(dead_letter_value(letter) or b"null")  # strict JSON, valid UTF-8


def test_dead_letters_of_the_corpus_are_kept_in_clickhouse(chdb: EventStore) -> None:
    pipeline, _ = build(chdb)
    pipeline.dead_letters = StoreDeadLetters(chdb)
    msgs, _ = interleave([payload for payload, _ in CORPUS], valid_per_gap=1)
    pipeline.process(msgs)
    kept = chdb.read_dead_letters(0, 2**62, limit=100)
    assert sorted(d.reason for d in kept) == sorted(reason for _, reason in CORPUS)
    ghost = [d for d in kept if d.reason == "unknown_model"]
    assert all(orjson.loads(d.payload_json)["model"] == "ghost" for d in ghost)


def test_data_storage_refuses_is_isolated_by_splitting_the_batch(
    chdb: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line of defence: if validation let a lone surrogate through, the real
    ClickHouse client refuses the insert, and the pipeline bisects instead of retrying."""
    monkeypatch.setattr("driftd.events._text", lambda value, what: value)
    pipeline, letters = build(chdb)
    poison = [b'{"model":"m","features":{"country":"\\ud800"},"prediction":0.5}'] * 3
    msgs, n_valid = interleave(poison, valid_per_gap=5)
    result = pipeline.process(msgs)
    refused = [d for d in letters.letters if d.reason == "unstorable"]
    assert [d.index for d in refused] == [5, 11, 17]
    assert all(d.detail == "storage refused the event (UnicodeEncodeError)" for d in refused)
    assert result.stored == n_valid and len(result.batch) == n_valid
    assert chdb.count("predictions") == chdb.count_distinct_event_ids("predictions") == n_valid
    offsets = {r.source.offset for r in chdb.read_predictions("m", 0, 2**62) if r.source}
    assert offsets == set(range(len(msgs))) - {5, 11, 17}
    pipeline.process(msgs)  # the same batch again: the same sub-batch tokens, no duplicates
    assert chdb.count("predictions") == n_valid


def test_http_dead_letters_are_capped_per_request_and_the_rest_summarised() -> None:
    pipeline, letters = build(InMemoryEventStore())
    bad = [Message("predictions", {"model": "m"}, request=1) for _ in range(250)]
    bad += [Message("predictions", {"model": "m", "features": {}}, request=2) for _ in range(3)]
    result = pipeline.process(bad)
    assert len(result.dead_letters) == 253  # the answer still knows every rejection
    per_request = [d for d in letters.letters if d.request == 1]
    assert len(per_request) == 101
    summary = per_request[-1]
    assert summary.reason == "rejections_summarised"
    assert summary.detail == "150 more rejected events of this request: missing_field=150"
    assert len([d for d in letters.letters if d.request == 2]) == 3


def test_rejections_are_logged_aggregated_not_one_line_per_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, _ = build(InMemoryEventStore())
    caplog.set_level("INFO", logger="driftd")
    pipeline.process([Message("predictions", {"model": "m"}) for _ in range(1_000)])
    pipeline.process([Message("predictions", b"{") for _ in range(1_000)])
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert lines == ["rejected 1000 events: missing_field=1000"]  # the second is rate-limited


any_text = st.text(st.characters(exclude_categories=()))  # lone surrogates included
payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(any_text, payloads, max_size=4), any_text)
def test_writing_a_dead_letter_never_raises(payload: dict[str, Any], detail: str) -> None:
    letter = DeadLetter("predictions", "r", detail, payload, None)
    value = dead_letter_value(letter)
    orjson.loads(value)  # what the store and Kafka carry is strict JSON in valid UTF-8
    store = InMemoryEventStore()
    store.migrate()
    StoreDeadLetters(store).publish([letter])
    (kept,) = store.read_dead_letters(0, 2**62)
    kept.detail.encode("utf-8")


json_ish = st.lists(
    st.sampled_from([b"{", b"}", b"[", b"]", b",", b":", b'"model"', b'"m"', b'"features"',
                     b'"prediction"', b'"x"', b"NaN", b"-Infinity", b"1e999", b"9" * 25,
                     b'"\\ud800"', b'"\\u0000"', b"null", b"true", b"0.5", b'"timestamp"']),
    max_size=25,
).map(b"".join)  # fmt: skip


@pytest.fixture
def fuzz_target(chdb: EventStore) -> tuple[Pipeline, Any, Iterator[int]]:
    """Built once per test: hypothesis runs every example on the same fixture."""
    pipeline, letters = build(chdb)
    return pipeline, letters, itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.binary(max_size=120) | json_ish | st.just(orjson.dumps(VALID)), max_size=30))
def test_fuzzed_kafka_batches_never_raise_and_every_message_is_accounted_for(
    chdb: EventStore, fuzz_target: tuple[Pipeline, Any, Iterator[int]], raw: list[bytes]
) -> None:
    pipeline, letters, offsets = fuzz_target
    before_stored, before_letters = chdb.count("predictions"), len(letters.letters)
    msgs = [Message("predictions", b, Coordinates("fuzz", 0, next(offsets))) for b in raw]
    result = pipeline.process(msgs)
    stored = chdb.count("predictions") - before_stored
    assert result.stored == stored
    assert stored + len(letters.letters) - before_letters == len(raw)  # in = stored + dead


def test_a_failure_while_judging_does_not_fail_the_stored_batch() -> None:
    pipeline, _ = build(InMemoryEventStore())

    def broken(predictions: Any) -> Any:
        raise ZeroDivisionError("a detector bug")

    pipeline.monitor.observe = broken  # type: ignore[method-assign]
    msgs = [Message("predictions", orjson.dumps({**VALID, "event_id": f"j{i}"})) for i in range(5)]
    result = pipeline.process(msgs)
    assert result.stored == 5 and result.windows_closed == 0
    assert pipeline.process(msgs).repeated == 5  # the client's retry is stored once
    assert pipeline.store.count("predictions") == 5
