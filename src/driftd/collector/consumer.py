"""What both Kafka consumers share (kafka-python and the optional confluent-kafka).

A source polls batches of :class:`Message`, and commits ``last offset + 1`` per
partition only after the pipeline has stored the batch. Auto-commit is off and
``auto_offset_reset`` explicit in both clients.

After a crash between the store and the commit, Kafka delivers the batch
again, possibly cut differently. So when partitions are assigned, the source
asks storage for the highest offset it already holds for each of them and
marks messages at or below it as ``stored``: they are not written twice.

Commits after a stored batch are asynchronous by default
(``kafka.commit_async``): storage skips a redelivered batch through those
high-water marks (and ``event_id`` dedup), so an asynchronous commit that is
lost costs a redelivery, never a duplicate stored row or a gap (nor a
duplicate dead letter for messages marked ``stored``: see
:func:`~driftd.collector.messages.not_sent_before` for when one is sent again).
The
last offsets are
committed synchronously when the source closes, and when partitions are revoked
where the client allows it (confluent); see ``docs/decisions.md``.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from driftd.collector.messages import Kind, Message
from driftd.config import KafkaSettings
from driftd.metrics import Metrics

__all__ = ["ConsumerSource", "Partition", "StoredOffsets", "make_source", "next_offsets"]

T = TypeVar("T")
logger = logging.getLogger(__name__)

StoredOffsets = Callable[[Kind, str, list[int]], dict[int, int]]
Retry = Callable[[str, Callable[[], dict[int, int]]], dict[int, int]]
Partition = tuple[str, int]
"""(topic, partition): the clients' own partition types stay inside their source."""


class ConsumerSource(ABC):
    """Rebalance bookkeeping, stored high-water marks, lag and commit offsets.

    Subclasses own the client: ``start``, ``poll``, ``close`` and ``_commit``;
    their rebalance callbacks call :meth:`_assigned` / :meth:`_revoked`.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        stored_offsets: StoredOffsets,
        on_revoked: Callable[[str, list[int]], None] = lambda topic, partitions: None,
        retry: Retry | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stored_offsets = stored_offsets
        self.on_revoked = on_revoked
        self.retry: Retry = retry if retry is not None else (lambda step, fn: fn())
        self._kinds: dict[str, Kind] = {
            settings.predictions_topic: "predictions",
            settings.outcomes_topic: "outcomes",
        }
        self._stored: dict[Partition, int] = {}
        self._pending: set[Partition] = set()
        self._unconfirmed: dict[Partition, int] = {}
        """Offsets committed asynchronously: committed again synchronously at the end."""
        self._held: Any = None
        """What the client returned while the stored marks could not be resolved: handed
        out by the next poll, since the client's position is already past it."""
        self._rebalances = 0
        """Revocations so far (a poll that spans several client polls checks it)."""
        self._polled_next: tuple[list[Message], dict[Partition, int]] | None = None
        """The last poll's messages and their next offsets per partition, read from the
        client's records as the messages were built (until that batch is committed)."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def poll(self) -> list[Message]:
        """One batch (possibly empty) of messages from the assigned partitions."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _commit(self, offsets: dict[Partition, int], *, asynchronous: bool) -> None:
        """Commit these next offsets; :class:`SourceError` when it cannot be done."""

    # rebalance callbacks run inside poll(), between batches
    def _revoked(self, revoked: Collection[Partition]) -> None:
        self._rebalances += 1
        self._held = None  # whoever takes the partitions over reads them from the commit
        by_topic: dict[str, list[int]] = {}
        for tp in revoked:
            self._stored.pop(tp, None)
            self._pending.discard(tp)
            self._unconfirmed.pop(tp, None)
            by_topic.setdefault(tp[0], []).append(tp[1])
        for topic, partitions in by_topic.items():
            self.on_revoked(topic, partitions)
            if self.metrics is not None:
                for partition in partitions:  # a partition no longer ours has no lag here
                    with contextlib.suppress(KeyError):
                        self.metrics.consumer_lag.remove(topic, str(partition))
        if revoked:
            logger.info("partitions revoked: %s", _shown(revoked))

    def _assigned(self, assigned: Collection[Partition]) -> None:
        self._pending.update(assigned)
        if assigned:
            logger.info("partitions assigned: %s", _shown(assigned))

    def _polled(self, fetch: Callable[[], T]) -> T:
        """``fetch()``'s records (or those held back by the last poll), once the stored
        marks of newly assigned partitions are known.

        The client's position moves past what it returns, so if resolving the marks
        fails, the records are held and handed out by the next poll: raising them
        away would leave a gap the next commit covers.
        """
        if self._held is not None:
            polled: T = self._held
            self._held = None
        else:
            polled = fetch()
        if self._pending:
            try:
                self._resolve_pending()
            except BaseException:
                self._held = polled
                raise
        return polled

    def _resolve_pending(self) -> None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in self._pending:
            by_topic.setdefault(topic, []).append(partition)
        for topic, partitions in by_topic.items():
            kind = self._kinds[topic]

            def lookup(kind: Kind = kind, topic: str = topic, ps: list[int] = partitions) -> Any:
                return self.stored_offsets(kind, topic, ps)

            found = self.retry("stored offsets", lookup)
            for partition in partitions:
                self._stored[(topic, partition)] = found.get(partition, -1)
        self._pending.clear()

    def _set_lag(self, topic: str, partition: int, high: int, position: int) -> None:
        assert self.metrics is not None
        lag = max(0, high - position)
        self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)

    def _polled_batch(self, messages: list[Message], next_offsets: dict[Partition, int]) -> None:
        """Remember what :meth:`commit` of the batch just polled commits (a subclass's
        ``poll`` knows it per partition from the client's records)."""
        self._polled_next = (messages, next_offsets)

    def commit(self, messages: Sequence[Message]) -> None:
        """Commit ``last offset + 1`` for each partition in the batch (after it is stored).

        For the batch the last poll returned, the offsets noted while polling it (no
        walk over its messages); for any other, the highest offset of each partition.
        """
        polled, self._polled_next = self._polled_next, None
        if polled is not None and polled[0] is messages:
            offsets = dict(polled[1])
        else:
            offsets = next_offsets(messages)
        if not offsets:
            return
        if self.settings.commit_async:
            self._unconfirmed.update(offsets)
            self._commit(offsets, asynchronous=True)
        else:
            self._commit(offsets, asynchronous=False)

    def _commit_unconfirmed(self, partitions: Iterable[Partition] | None = None) -> None:
        """Commit synchronously what was committed asynchronously (revoke, shutdown).

        Never raises: the batches are stored, and a redelivery is skipped as stored.
        """
        wanted = self._unconfirmed if partitions is None else set(partitions)
        offsets = {tp: self._unconfirmed[tp] for tp in wanted if tp in self._unconfirmed}
        if not offsets:
            return
        try:
            self._commit(offsets, asynchronous=False)
        except Exception as exc:
            logger.warning("final commit failed (the batches are stored): %s", exc)
        for tp in offsets:
            self._unconfirmed.pop(tp, None)


def next_offsets(messages: Iterable[Message]) -> dict[Partition, int]:
    """``last offset + 1`` per partition of the messages that have Kafka coordinates.

    >>> from driftd.events import Coordinates
    >>> at = [(0, 5), (1, 2), (0, 4)]
    >>> next_offsets([Message("predictions", b"", Coordinates("t", p, o)) for p, o in at])
    {('t', 0): 6, ('t', 1): 3}
    """
    last: dict[Partition, int] = {}
    for msg in messages:
        src = msg.source
        if src is None:
            continue
        tp = (src.topic, src.partition)
        if src.offset >= last.get(tp, -1):
            last[tp] = src.offset
    return {tp: o + 1 for tp, o in last.items()}


def _shown(partitions: Iterable[Partition]) -> list[str]:
    return sorted(f"{topic}-{partition}" for topic, partition in partitions)


def make_source(
    settings: KafkaSettings,
    *,
    stored_offsets: StoredOffsets,
    on_revoked: Callable[[str, list[int]], None] = lambda topic, partitions: None,
    retry: Retry | None = None,
    metrics: Metrics | None = None,
) -> ConsumerSource:
    """The source for ``kafka.client``: kafka-python, or confluent-kafka (the extra)."""
    cls: type[ConsumerSource]
    if settings.client == "confluent":
        from driftd.collector.confluent_source import ConfluentSource

        cls = ConfluentSource
    else:
        from driftd.collector.kafka_source import KafkaSource

        cls = KafkaSource
    return cls(
        settings, stored_offsets=stored_offsets, on_revoked=on_revoked, retry=retry, metrics=metrics
    )
