"""What flows from a source (Kafka, HTTP) into the pipeline, and what comes out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from driftd.batch import PredictionBatch
from driftd.events import Coordinates, OutcomeRecord, PredictionRecord

__all__ = [
    "BatchResult",
    "DeadLetter",
    "Kind",
    "Message",
    "coordinates",
    "not_sent_before",
]

Kind = Literal["predictions", "outcomes"]


@dataclass(slots=True)
class Message:
    """One raw event: bytes from Kafka, or an already-decoded object from HTTP.

    ``stored`` marks a Kafka message at or below the partition's stored
    high-water mark after a crash or a partition move: it is not stored again,
    but the detectors still see it if their checkpoint has not counted it.
    ``size`` is the encoded size of an already-decoded object (bytes are
    measured directly), held to ``limits.max_payload_bytes``; ``request``
    numbers the HTTP request it came in (-1 for Kafka), so dead letters can be
    capped per request.
    """

    kind: Kind
    value: bytes | dict[str, Any]
    source: Coordinates | None = None
    received_ms: int = 0
    stored: bool = False
    size: int = 0
    request: int = -1


_blank = partial(object.__new__, Coordinates)
_set_topic, _set_partition, _set_offset = (
    vars(Coordinates)[name].__set__ for name in ("topic", "partition", "offset")
)


def coordinates(topic: str, partition: int, offset: int) -> Coordinates:
    """``Coordinates(topic, partition, offset)`` at half the cost, for the sources'
    one per Kafka record: the frozen dataclass's ``__init__`` goes through
    ``object.__setattr__`` per field, this sets the slots directly. The same
    object (equal, same hash, frozen to every other writer).

    >>> c = coordinates("t", 0, 9)
    >>> c == Coordinates("t", 0, 9) and hash(c) == hash(Coordinates("t", 0, 9))
    True
    """
    source: Coordinates = _blank()
    _set_topic(source, topic)
    _set_partition(source, partition)
    _set_offset(source, offset)
    return source


@dataclass(slots=True)
class DeadLetter:
    """A rejected event: the reason, and its payload only after scrubbing."""

    kind: Kind
    reason: str
    detail: str
    payload: dict[str, Any] | None
    source: Coordinates | None
    index: int = -1  # position in the submitted batch (HTTP answers name it)
    request: int = -1  # the HTTP request it came in, -1 for Kafka


@dataclass(slots=True)
class BatchResult:
    predictions: list[PredictionRecord] = field(default_factory=list)
    """Valid predictions as records: filled only by a validator that keeps records (the
    pipeline's does not; it hands back :attr:`batch`)."""
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    stored: int = 0
    windows_closed: int = 0
    repeated: int = 0
    """Events a client sent again (same ``event_id``) that were stored before."""
    unpublished: list[int] = field(default_factory=list)
    """Batch positions of valid events Kafka did not acknowledge (HTTP with Kafka):
    not stored anywhere this process knows of, for the client to send again."""
    batch: PredictionBatch = field(default_factory=PredictionBatch.empty)
    """The valid predictions the pipeline judged (stored now or before; neither refused by
    storage nor a client's repeat), as columns."""


def not_sent_before(letters: list[DeadLetter], messages: Sequence[Message]) -> list[DeadLetter]:
    """``letters`` less those of redelivered messages marked ``stored`` (at or below their
    partition's stored high-water mark): a batch's dead letters are durable before any
    of its rows is stored, and batches of a partition are stored in offset order, so a
    message below a stored row was dead-lettered then, if it was invalid. Sent again:
    the letters of a redelivered batch above its partition's stored mark (a crash
    between a batch's dead letters and its rows, trailing invalid messages, a
    partition whose messages were all invalid), and those of a batch the collector
    retries whole in process (its ``stored`` marks are not updated). The validator
    calls it for a batch holding a message marked ``stored``
    (:attr:`~driftd.collector.validate.Validated.letters`).

    >>> from driftd.events import Coordinates
    >>> old, new = (Message("predictions", b"{", Coordinates("t", 0, i)) for i in (4, 9))
    >>> old.stored = True
    >>> letters = [DeadLetter("predictions", "invalid_json", "", None, m.source, i)
    ...            for i, m in enumerate([old, new])]
    >>> [d.source.offset for d in not_sent_before(letters, [old, new])]
    [9]
    """
    return [d for d in letters if not (0 <= d.index < len(messages) and messages[d.index].stored)]
