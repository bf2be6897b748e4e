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

Writing a dead letter never raises on its payload: a value JSON cannot carry
(a lone surrogate, an integer beyond 64 bits) is replaced (U+FFFD) or written as a
string of digits, and a
payload that still cannot be written is replaced by nothing, with the reason
kept. One HTTP request writes at most ``limits.max_dead_letters_per_request``
dead letters one by one; the rest become one summary per request (reason
``rejections_summarised``, counts per reason in the detail).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from driftd.collector.kafka_source import delivery_refusals
from driftd.collector.messages import DeadLetter
from driftd.errors import StorageDataError
from driftd.events import printable
from driftd.storage.base import EventStoreProtocol
from driftd.storage.records import StoredDeadLetter

__all__ = [
    "DeadLetterSink",
    "KafkaDeadLetters",
    "LettersRefusedError",
    "MemoryDeadLetters",
    "RejectionLog",
    "StoreDeadLetters",
    "dead_letter_headers",
    "dead_letter_key",
    "dead_letter_value",
    "summarise",
]

SUMMARY_REASON = "rejections_summarised"

logger = logging.getLogger(__name__)


class DeadLetterSink(Protocol):
    """Accepts rejected events; ``publish`` returns only once they are durable."""

    def publish(self, letters: Sequence[DeadLetter]) -> None: ...


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    headers = [
        ("driftd-reason", printable(letter.reason).encode()),
        ("driftd-detail", printable(letter.detail).encode()),
        ("driftd-kind", letter.kind.encode()),
    ]
    if letter.source is not None:
        headers += [
            ("driftd-source-topic", letter.source.topic.encode()),
            ("driftd-source-partition", str(letter.source.partition).encode()),
            ("driftd-source-offset", str(letter.source.offset).encode()),
        ]
    return headers


def dead_letter_value(letter: DeadLetter) -> bytes:
    """The payload as UTF-8 JSON, whatever it holds; ``b""`` when nothing can be written.

    >>> from driftd.collector.messages import DeadLetter
    >>> letter = DeadLetter("predictions", "r", "d", {"c": "a\\ud800", "n": 10**30}, None)
    >>> dead_letter_value(letter).decode()
    '{"c":"a\ufffd","n":"1000000000000000000000000000000"}'
    """
    if letter.payload is None:
        return b""
    with contextlib.suppress(TypeError, ValueError):  # a lone surrogate, an integer > 64 bits
        return orjson.dumps(letter.payload, default=str, option=orjson.OPT_NON_STR_KEYS)
    try:
        return orjson.dumps(_clean(letter.payload, 0), option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError, RecursionError) as exc:
        logger.debug("dead-letter payload not written (%s)", type(exc).__name__)
        return b""


def _clean(value: Any, depth: int) -> Any:
    """Lone surrogates → U+FFFD, integers beyond 64 bits → their digits as a string."""
    if depth > 64:
        raise RecursionError("payload nested too deeply")
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return _digits(value)
    if isinstance(value, dict):
        return {_clean(str(k), depth + 1): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return value


def _digits(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond CPython's digit limit for str()
        return "<integer too large>"


def dead_letter_key(letter: DeadLetter) -> bytes | None:
    """The Kafka key: the event's model, when its payload names one as text."""
    model = letter.payload.get("model") if letter.payload else None
    return printable(model).encode() if isinstance(model, str) else None


def summarise(letters: Sequence[DeadLetter], cap: int) -> list[DeadLetter]:
    """Keep the first ``cap`` dead letters of each HTTP request; fold the rest of a
    request into one summary letter (Kafka letters, ``request == -1``, are all kept:
    each stands for one message at its own offset).

    >>> from driftd.collector.messages import DeadLetter
    >>> many = [DeadLetter("predictions", "non_finite", "", None, None, i, 7) for i in range(5)]
    >>> [(d.reason, d.detail) for d in summarise(many, 2)][2:]
    [('rejections_summarised', '3 more rejected events of this request: non_finite=3')]
    """
    if cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    kept: list[DeadLetter] = []
    seen: Counter[int] = Counter()
    rest: dict[int, tuple[DeadLetter, Counter[str]]] = {}
    for letter in letters:
        if letter.request < 0 or seen[letter.request] < cap:
            seen[letter.request] += 1
            kept.append(letter)
            continue
        first, counts = rest.setdefault(letter.request, (letter, Counter()))
        counts[letter.reason] += 1
    for first, counts in rest.values():
        tally = ", ".join(f"{reason}={n}" for reason, n in sorted(counts.items()))
        detail = f"{sum(counts.values())} more rejected events of this request: {tally}"
        kept.append(
            DeadLetter(first.kind, SUMMARY_REASON, detail, None, None, first.index, first.request)
        )
    return kept


class RejectionLog:
    """Logs rejections aggregated: counts per reason at INFO at most once per
    ``interval_s`` (the first batch at once), and each rejection at DEBUG (at most
    ``debug_per_batch`` per batch). One log line per batch, never one per event.
    """

    def __init__(
        self,
        interval_s: float = 10.0,
        debug_per_batch: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s < 0:
            raise ValueError(f"interval_s must be >= 0, got {interval_s}")
        self.interval_s = interval_s
        self.debug_per_batch = debug_per_batch
        self.clock = clock
        self._counts: Counter[str] = Counter()
        self._last: float | None = None

    def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        if logger.isEnabledFor(logging.DEBUG):
            for letter in letters[: self.debug_per_batch]:
                logger.debug(
                    "dead letter: kind=%s reason=%s detail=%s source=%s",
                    letter.kind,
                    letter.reason,
                    printable(letter.detail),
                    letter.source.event_id() if letter.source else "http",
                )
        self._counts.update(letter.reason for letter in letters)
        now = self.clock()
        if self._last is None or now - self._last >= self.interval_s:
            tally = ", ".join(f"{r}={n}" for r, n in sorted(self._counts.items()))
            logger.info("rejected %d events: %s", sum(self._counts.values()), tally)
            self._counts.clear()
            self._last = now


class LettersRefusedError(StorageDataError):
    """Kafka refused these dead letters for what they are, each alone in its own
    record batch (too large, invalid); the others of the batch were acknowledged."""

    def __init__(self, message: str, letters: Sequence[DeadLetter]) -> None:
        super().__init__(message)
        self.letters = list(letters)


class KafkaDeadLetters:
    """Produces dead letters to a Kafka topic and waits for the broker's acknowledgement.

    A topic whose ``max.message.bytes`` is below the producer's ``batch_size``
    refuses a whole record batch that holds many letters although each alone
    would fit: the letters refused are produced again one record batch each
    (send, then flush), and only those refused alone raise :class:`LettersRefusedError`
    (the pipeline writes them again without their payloads). The common path
    stays one flush per batch.
    """

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s

    @property
    def what(self) -> str:
        return f"dead-letter topic {self.topic!r}"

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        refused = self._deliver(letters)
        if not refused:
            return
        logger.info(
            "%s refused %d of %d dead letters (%s); producing them one record batch each",
            self.what,
            len(refused),
            len(letters),
            refused[0][1],
        )
        alone = [
            (letters[i], error) for i, _ in refused for error in self._deliver_alone(letters[i])
        ]
        if alone:
            raise LettersRefusedError(
                f"{self.what} refused by Kafka: {len(alone)} of {len(letters)} dead letters, "
                f"each alone ({alone[0][1]})",
                [letter for letter, _ in alone],
            )

    def _deliver_alone(self, letter: DeadLetter) -> list[str]:
        """The error Kafka refused ``letter`` with in a record batch of its own, if any."""
        return [error for _, error in self._deliver([letter])]

    def _deliver(self, letters: Sequence[DeadLetter]) -> list[tuple[int, str]]:
        """Produce and wait: the letters Kafka refused for what they are, as
        (index, error); raises :class:`SourceError` on any other failure."""
        futures = [
            self.producer.send(
                self.topic,
                value=dead_letter_value(letter),
                key=dead_letter_key(letter),
                headers=dead_letter_headers(letter),
            )
            for letter in letters
        ]
        refused = delivery_refusals(self.producer, futures, self.timeout_s, self.what)
        return [(i, str(exc)) for i, exc in refused]


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
                detail=printable(letter.detail),
                payload_json=dead_letter_value(letter).decode(),
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
