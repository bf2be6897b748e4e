"""HTTP with Kafka enabled: each request hears exactly which of its events Kafka
acknowledged, so a client that resends the rest never duplicates one (issue case 8:
a batch answered 500 after some of its events were published)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from driftd.collector.deadletter import LettersRefusedError, MemoryDeadLetters
from driftd.collector.forward import KafkaForwarder
from driftd.collector.http_ingest import HttpIngest
from driftd.collector.messages import DeadLetter, Message
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.errors import SourceError
from driftd.metrics import Metrics


class Sent(Future[Any]):
    """kafka-python's send future answers ``get(timeout)``."""

    def get(self, timeout: float) -> Any:
        return self.result(timeout)


class Producer:
    """Acknowledges every send except those whose event id is in ``refuse``."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.published: list[bytes] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Sent:
        future = Sent()
        if any(f'"event_id":"{e}"'.encode() in value for e in self.refuse):
            future.set_exception(TimeoutError("no acknowledgement"))
        else:
            self.published.append(value)
            future.set_result(None)
        return future

    def flush(self, timeout: float) -> None:
        return None


def forwarder(producer: Producer) -> KafkaForwarder:
    validator = Validator(Scrubber({}), lambda m: True, Metrics(), keep_objects=True)
    topics = {"predictions": "p", "outcomes": "o"}
    return KafkaForwarder(validator, producer, topics, MemoryDeadLetters(), timeout_s=1)


def request(ids: list[str]) -> list[Message]:
    return [
        Message("predictions", {"model": "m", "event_id": e, "features": {"x": 1},
                                "prediction": 1})
        for e in ids
    ]  # fmt: skip


def test_each_request_hears_which_of_its_events_were_not_published() -> None:
    producer = Producer(refuse={"a2", "b0"})
    ingest = HttpIngest(forwarder(producer), max_events=100, max_wait_ms=200)
    first = request(["a0", "a1", "a2"])
    first.insert(1, Message("predictions", {"model": "m"}))  # rejected: missing fields
    futures = [ingest.submit(first), ingest.submit(request(["b0", "b1"]))]
    ingest.start()
    try:
        a, b = (f.result(timeout=30) for f in futures)
    finally:
        ingest.close()
    assert (a.accepted, [d.index for d in a.rejected], a.unpublished) == (2, [1], [3])
    assert (b.accepted, b.unpublished) == (1, [0])
    assert len(producer.published) == 3  # a0, a1, b1: resending a2 and b0 duplicates nothing


def test_nothing_published_is_an_error_for_the_whole_batch() -> None:
    with pytest.raises(SourceError):
        forwarder(Producer(refuse={"a0", "a1"})).process(request(["a0", "a1"]))


class FatalProducer:
    """kafka-python's idempotent producer: a record refused alone makes it fatal, and
    every send not yet acknowledged fails with the same refusal, as do later ones."""

    def __init__(self) -> None:
        self.pending: list[tuple[bytes, Sent]] = []
        self.published: list[bytes] = []
        self.fatal = False

    def send(self, topic: str, key: bytes, value: bytes) -> Sent:
        self.pending.append((value, Sent()))
        return self.pending[-1][1]

    def flush(self, timeout: float) -> None:
        self.fatal = self.fatal or any(b'"event_id":"big' in v for v, _ in self.pending)
        for value, future in self.pending:
            if self.fatal:
                future.set_exception(MessageSizeTooLargeError())
            else:
                self.published.append(value)
                future.set_result(None)
        self.pending.clear()

    def close(self, timeout: float) -> None:
        return None


def renewing() -> tuple[KafkaForwarder, list[FatalProducer]]:
    """A forwarder whose producers (the first, then each new one) are ``FatalProducer``."""
    producers = [FatalProducer()]

    def renew() -> FatalProducer:
        producers.append(FatalProducer())
        return producers[-1]

    fwd = forwarder(producers[0])  # type: ignore[arg-type]
    fwd.renew = renew
    return fwd, producers


def test_sends_failed_by_a_refusal_are_made_again_alone_through_a_new_producer() -> None:
    fwd, producers = renewing()
    result = fwd.process(request(["a0", "big", "a1"]))
    assert (result.stored, result.unpublished) == (2, [])
    assert [(d.index, d.reason) for d in result.dead_letters] == [(1, "refused_by_kafka")]
    assert list(fwd.dead_letters.letters) == result.dead_letters  # type: ignore[attr-defined]
    later = fwd.process(request(["c0"]))  # the producer in use is not the fatal one
    assert (later.stored, later.unpublished, later.dead_letters) == (1, [], [])
    sent = [orjson.loads(v)["event_id"] for p in producers for v in p.published]
    assert sorted(sent) == ["a0", "a1", "c0"]  # each once


def test_without_a_new_producer_they_are_not_published() -> None:
    fwd = forwarder(FatalProducer())  # type: ignore[arg-type]
    with pytest.raises(SourceError):  # none acknowledged: the request may be sent again whole
        fwd.process(request(["a0", "big"]))


class DownProducer(FatalProducer):
    """The broker went away: every send fails after the timeout (here at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def flush(self, timeout: float) -> None:
        for _, future in self.pending:
            future.set_exception(KafkaTimeoutError("no acknowledgement"))
        self.sent += len(self.pending)
        self.pending.clear()


def test_an_outage_while_producing_again_alone_stops_the_resends() -> None:
    """Each resend waits up to the timeout (twice: flush, then the future): with the
    broker away, trying every one of many events would hold the ingest thread, and
    every HTTP request, for that many timeouts; the first failure ends them."""
    fresh = DownProducer()
    fwd = forwarder(FatalProducer())  # type: ignore[arg-type]
    fwd.renew = lambda: fresh
    with pytest.raises(SourceError):  # none acknowledged: the request may be sent again
        fwd.process(request(["a0", "big", *(f"b{i}" for i in range(8))]))
    assert fresh.sent == 1


class SizedDeadLetters(MemoryDeadLetters):
    """A dead-letter topic that refuses, each alone, the letters of ``too_large``
    with their payloads and keeps the others of the batch (``KafkaDeadLetters``)."""

    def __init__(self, too_large: set[str]) -> None:
        super().__init__()
        self.too_large = too_large

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        refused = [d for d in letters if d.payload and d.payload.get("event_id") in self.too_large]
        super().publish([d for d in letters if d not in refused])
        if refused:
            raise LettersRefusedError("refused alone", refused)


def test_only_the_letters_the_dead_letter_topic_refused_go_again_without_payloads() -> None:
    fwd, _ = renewing()
    fwd.dead_letters = sink = SizedDeadLetters({"big1"})
    result = fwd.process(request(["a0", "big0", "big1"]))
    assert (result.stored, result.unpublished) == (1, [])
    kept = [(d.index, d.payload is not None) for d in sink.letters]
    assert kept == [(1, True), (2, False)]  # big0 once, with its payload; big1 bare
