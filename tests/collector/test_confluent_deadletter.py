"""Dead letters through confluent-kafka: durable before ``publish`` returns, exact failures.

A fake librdkafka producer answers each letter's delivery callback at ``flush``;
the real one is exercised by tests/integration (``kafka.client: confluent``).
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from driftd.collector.confluent_deadletter import ConfluentDeadLetters
from driftd.collector.deadletter import dead_letter_headers, dead_letter_key, dead_letter_value
from driftd.collector.messages import DeadLetter, coordinates
from driftd.config import KafkaSettings
from driftd.errors import SourceError, StorageDataError
from driftd.services import _dead_letter_sink


class FakeProducer:
    """Queues produced letters; ``flush`` answers each callback with ``answer(i)``."""

    def __init__(self, answer: Any = None, full_once: bool = False) -> None:
        self.answer = answer if callable(answer) else (lambda i: answer)
        self.sent: list[tuple[str, bytes, bytes | None, Any]] = []
        self.queued: list[Any] = []
        self.flushes = 0
        self.polls = 0
        self.full_once = full_once
        self.unanswered = 0

    def produce(self, topic: str, value: bytes, key: bytes | None, **kw: Any) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("queue full")
        self.sent.append((topic, value, key, kw["headers"]))
        self.queued.append(kw["on_delivery"])

    def poll(self, timeout: float) -> int:
        self.polls += 1
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        answered = self.queued[: len(self.queued) - self.unanswered]
        for i, callback in enumerate(answered):
            callback(self.answer(i), None)
        self.queued = []
        return self.unanswered


def letters(n: int) -> list[DeadLetter]:
    return [
        DeadLetter(
            "predictions",
            "non_finite",
            "prediction is NaN",
            {"model": "m", "prediction": "NaN"} if i % 2 else None,
            coordinates("t", 0, i),
            i,
        )
        for i in range(n)
    ]


def test_publishes_every_letter_with_the_kafka_python_sinks_payload_and_one_flush() -> None:
    producer = FakeProducer()
    batch = letters(5)
    ConfluentDeadLetters(producer, "dl").publish(batch)
    assert producer.flushes == 1
    assert producer.sent == [
        ("dl", dead_letter_value(d), dead_letter_key(d), dead_letter_headers(d)) for d in batch
    ]


def test_nothing_to_publish_touches_nothing() -> None:
    producer = FakeProducer()
    ConfluentDeadLetters(producer, "dl").publish([])
    assert producer.flushes == 0


def test_one_letter_not_acknowledged_fails_the_batch_for_a_retry() -> None:
    producer = FakeProducer(lambda i: KafkaError(KafkaError.REQUEST_TIMED_OUT) if i == 3 else None)
    with pytest.raises(SourceError, match="not acknowledged"):
        ConfluentDeadLetters(producer, "dl").publish(letters(5))


def test_letters_still_queued_after_the_timeout_fail_the_batch() -> None:
    producer = FakeProducer()
    producer.unanswered = 2
    with pytest.raises(SourceError, match="2 of 5 dead letters unanswered"):
        ConfluentDeadLetters(producer, "dl", timeout_s=0.01).publish(letters(5))


def test_a_letter_kafka_refuses_for_its_size_is_a_data_error() -> None:
    producer = FakeProducer(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    with pytest.raises(StorageDataError, match="refused"):
        ConfluentDeadLetters(producer, "dl").publish(letters(2))


def test_a_full_local_queue_is_drained_and_the_letter_produced_again() -> None:
    producer = FakeProducer(full_once=True)
    ConfluentDeadLetters(producer, "dl").publish(letters(3))
    assert producer.polls == 1
    assert len(producer.sent) == 3


def test_the_sink_follows_the_configured_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftd.collector.deadletter import KafkaDeadLetters, StoreDeadLetters
    from driftd.config import Settings

    closers: list[Any] = []
    confluent = Settings(kafka=KafkaSettings(enabled=True, client="confluent"))
    sink = _dead_letter_sink(confluent, object(), None, closers)  # type: ignore[arg-type]
    try:
        assert isinstance(sink, ConfluentDeadLetters) and closers == [sink.close]
    finally:
        for close in closers:
            close(timeout=1.0)
    plain = Settings(kafka=KafkaSettings(enabled=True))
    made: list[tuple[Any, bool]] = []

    def producer(settings: Any, *, idempotent: bool = True) -> Any:
        made.append((settings, idempotent))
        return object()

    monkeypatch.setattr("driftd.services.make_producer", producer)
    closers = []
    sink = _dead_letter_sink(plain, object(), None, closers)  # type: ignore[arg-type]
    assert type(sink) is KafkaDeadLetters and made == [(plain.kafka, False)]
    assert sink.producer is not None and len(closers) == 1
    assert isinstance(_dead_letter_sink(plain, None, None, []), StoreDeadLetters)  # type: ignore[arg-type]


def test_no_broker_means_not_acknowledged_and_the_batch_retried() -> None:
    """The real librdkafka producer, no broker listening: each letter's delivery fails
    within the timeout, and ``publish`` raises the error the pipeline retries."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    settings = KafkaSettings(enabled=True, bootstrap_servers=[f"127.0.0.1:{port}"])
    sink = ConfluentDeadLetters.connect(settings, "dl", timeout_s=1.0)
    try:
        with pytest.raises(SourceError):
            sink.publish(letters(3))
    finally:
        sink.close(timeout=1.0)


def test_an_idle_connected_sink_serves_librdkafkas_queue_instead_of_piling_it_up() -> None:
    """librdkafka queues its log lines and error events for ``poll``; with the broker
    unreachable and no letters to publish, nothing else polls the producer."""
    import socket
    import threading
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    settings = KafkaSettings(enabled=True, bootstrap_servers=[f"127.0.0.1:{port}"])
    sink = ConfluentDeadLetters.connect(settings, "dl", timeout_s=1.0)
    try:
        most = 0
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            most = max(most, len(sink.producer))
            threading.Event().wait(0.2)
        assert most < 10  # a few at most, served within half a second
    finally:
        sink.close(timeout=1.0)
    assert sink._poller is not None and not sink._poller.is_alive()


def test_letters_refused_in_a_batch_are_produced_again_alone_and_only_those_lose_payloads() -> None:
    from driftd.collector.deadletter import LettersRefusedError, MemoryDeadLetters
    from driftd.collector.pipeline import Retry, publish_dead_letters

    batch = letters(6)

    def answer(i: int) -> Any:
        # the first flush: the batch's record batch refused whole; then letter 3 alone
        if producer.flushes == 1 and i >= 2:
            return KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
        if producer.flushes > 1 and producer.sent[-1][3] == dead_letter_headers(batch[3]):
            return KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
        return None

    producer = FakeProducer(answer)
    sink = ConfluentDeadLetters(producer, "dl")
    with pytest.raises(LettersRefusedError) as refused:
        sink.publish(batch)
    assert [d.index for d in refused.value.letters] == [3]  # too large alone
    assert producer.flushes == 1 + 4  # one for the batch, one for each letter refused in it
    assert len(producer.sent) == 6 + 4

    class Sink(MemoryDeadLetters):
        def publish(self, letters: Any) -> None:
            if any(d.payload is not None and d.index == 3 for d in letters):
                raise LettersRefusedError("refused", [d for d in letters if d.index == 3])
            super().publish(letters)

    memory = Sink()
    publish_dead_letters(Retry(0.001, 0.01), memory, batch, cap=100)
    assert [(d.index, d.payload is None) for d in memory.letters] == [(3, True)]
