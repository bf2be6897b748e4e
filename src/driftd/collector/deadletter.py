"""Dead-letter sinks: where rejected events go, with their reason and source coordinates.

With Kafka, the dead-letter topic; without it (the sidecar), the event store's
``dead_letters`` table, readable at ``GET /v1/deadletters``.

The payload written is the *scrubbed* decoded object; bytes that never decoded
are not copied (they could hold anything) — the headers name the source
topic/partition/offset, so the original can be read there while the topic
retains it.

Kafka headers on every dead letter: ``driftd-reason`` (code), ``driftd-detail``
(human text), ``driftd-kind`` (predictions | outcomes) and, for Kafka-sourced
events, ``driftd-source-topic``, ``driftd-source-partition``,
``driftd-source-offset``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from driftd.collector.kafka_source import await_delivery
from driftd.collector.messages import DeadLetter
from driftd.storage.base import EventStoreProtocol
from driftd.storage.records import StoredDeadLetter

__all__ = [
    "DeadLetterSink",
    "KafkaDeadLetters",
    "MemoryDeadLetters",
    "StoreDeadLetters",
    "dead_letter_headers",
]

logger = logging.getLogger(__name__)


class DeadLetterSink(Protocol):
    """Accepts rejected events; ``publish`` returns only once they are durable."""

    def publish(self, letters: Sequence[DeadLetter]) -> None: ...


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    headers = [
        ("driftd-reason", letter.reason.encode()),
        ("driftd-detail", letter.detail.encode()),
        ("driftd-kind", letter.kind.encode()),
    ]
    if letter.source is not None:
        headers += [
            ("driftd-source-topic", letter.source.topic.encode()),
            ("driftd-source-partition", str(letter.source.partition).encode()),
            ("driftd-source-offset", str(letter.source.offset).encode()),
        ]
    return headers


def _value(letter: DeadLetter) -> bytes:
    return b"" if letter.payload is None else orjson.dumps(letter.payload, default=str)


def _key(letter: DeadLetter) -> bytes | None:
    model = letter.payload.get("model") if letter.payload else None
    return model.encode() if isinstance(model, str) else None


class KafkaDeadLetters:
    """Produces dead letters to a Kafka topic and waits for the broker's acknowledgement."""

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        futures = [
            self.producer.send(
                self.topic,
                value=_value(letter),
                key=_key(letter),
                headers=dead_letter_headers(letter),
            )
            for letter in letters
        ]
        await_delivery(self.producer, futures, self.timeout_s, f"dead-letter topic {self.topic!r}")


class StoreDeadLetters:
    """Keeps dead letters in the event store: the sink of a sidecar without Kafka."""

    def __init__(self, store: EventStoreProtocol, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        now_ms = int(self.clock() * 1000)
        rows = [
            StoredDeadLetter(
                received_ms=now_ms,
                kind=letter.kind,
                reason=letter.reason,
                detail=letter.detail,
                payload_json=_value(letter).decode(),
                src_topic=letter.source.topic if letter.source else "",
                src_partition=letter.source.partition if letter.source else -1,
                src_offset=letter.source.offset if letter.source else -1,
            )
            for letter in letters
        ]
        self.store.insert_dead_letters(rows)


class MemoryDeadLetters:
    """Keeps the most recent dead letters in memory (for tests and embedding)."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.letters: deque[DeadLetter] = deque(maxlen=capacity)

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)
