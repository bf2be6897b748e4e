"""The client-independent part of the Kafka sources: commit offsets, revokes, stored marks."""

from __future__ import annotations

from typing import Any

import pytest

from driftd.collector.consumer import ConsumerSource, Partition
from driftd.collector.messages import Message
from driftd.config import KafkaSettings
from driftd.errors import SourceError
from driftd.events import Coordinates


class Recording(ConsumerSource):
    """A source whose client only records the commits asked of it."""

    def __init__(self, settings: KafkaSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.commits: list[tuple[dict[Partition, int], bool]] = []
        self.fail_sync = False

    def start(self) -> None:
        pass

    def poll(self) -> list[Message]:
        return []

    def close(self) -> None:
        self._commit_unconfirmed()

    def _commit(self, offsets: dict[Partition, int], *, asynchronous: bool) -> None:
        if self.fail_sync and not asynchronous:
            raise SourceError("coordinator gone")
        self.commits.append((dict(offsets), asynchronous))


def batch(*coordinates: tuple[str, int, int]) -> list[Message]:
    return [Message("predictions", b"{}", Coordinates(t, p, o)) for t, p, o in coordinates]


forgotten: list[tuple[str, list[int]]] = []
"""What the sources told the monitor to forget (topic, partitions)."""


def source(**settings: Any) -> Recording:
    return Recording(
        KafkaSettings(predictions_topic="p", outcomes_topic="o", **settings),
        stored_offsets=lambda kind, topic, ps: {p: 10 * p for p in ps},
        on_revoked=lambda topic, partitions: forgotten.append((topic, sorted(partitions))),
    )


def test_commits_the_next_offset_per_partition_asynchronously_then_synchronously_at_close() -> None:
    s = source()
    s.commit(batch(("p", 0, 5), ("p", 0, 7), ("p", 1, 3), ("o", 0, 2)))
    assert s.commits == [({("p", 0): 8, ("p", 1): 4, ("o", 0): 3}, True)]
    s.commit(batch(("p", 0, 9)))
    s.close()
    assert s.commits[-1] == ({("p", 0): 10, ("p", 1): 4, ("o", 0): 3}, False)
    s.close()  # nothing left unconfirmed: no second synchronous commit
    assert len(s.commits) == 3


def test_synchronous_commits_when_asked_and_nothing_left_for_close() -> None:
    s = source(commit_async=False)
    s.commit(batch(("p", 2, 41)))
    s.close()
    assert s.commits == [({("p", 2): 42}, False)]


def test_revoke_commits_only_the_revoked_partitions_and_forgets_them() -> None:
    forgotten.clear()
    s = source()
    s._assigned([("p", 0), ("p", 1)])
    s._resolve_pending()
    assert s._stored == {("p", 0): 0, ("p", 1): 10}
    s.commit(batch(("p", 0, 5), ("p", 1, 12)))
    s._commit_unconfirmed([("p", 1)])
    s._revoked([("p", 1)])
    assert s.commits[-1] == ({("p", 1): 13}, False)
    assert forgotten == [("p", [1])]
    assert s._stored == {("p", 0): 0}
    s.close()
    assert s.commits[-1] == ({("p", 0): 6}, False)


def test_a_failed_final_commit_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    s = source()
    s.commit(batch(("p", 0, 1)))
    s.fail_sync = True
    s.close()
    assert "final commit failed" in caplog.text


class _Record:
    """A confluent-kafka message, as much of it as the source reads."""

    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return b"{}"


class _Client:
    """Both clients' poll, moving the position past what it returns as they do."""

    def __init__(self, topic: str) -> None:
        self.topic, self.position = topic, 0

    def _next(self) -> list[int]:
        offsets = list(range(self.position, self.position + 3))
        self.position += 3
        return offsets

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        from types import SimpleNamespace

        from kafka import TopicPartition

        return {
            TopicPartition(self.topic, 0): [
                SimpleNamespace(offset=o, value=b"{}") for o in self._next()
            ]
        }

    def consume(self, n: int, timeout: float) -> list[_Record]:
        return [_Record(self.topic, o) for o in self._next()]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_records_polled_while_the_stored_marks_cannot_be_read_are_not_skipped(
    client: str,
) -> None:
    """The client's position is past what poll returned: if resolving the stored marks
    fails, the same records come out of the next poll, so no offset is skipped."""
    from driftd.collector.confluent_source import ConfluentSource
    from driftd.collector.kafka_source import KafkaSource
    from driftd.errors import DriftdError, StorageDataError

    lookups = 0

    def stored(kind: str, topic: str, partitions: list[int]) -> dict[int, int]:
        nonlocal lookups
        lookups += 1
        if lookups == 1:
            raise StorageDataError("stored offsets refused")
        return {}

    settings = KafkaSettings()
    cls = KafkaSource if client == "kafka-python" else ConfluentSource
    source = cls(settings, stored_offsets=stored)
    source._consumer = _Client(settings.predictions_topic)
    source._assigned([(settings.predictions_topic, 0)])
    seen: list[int] = []
    for _ in range(3):  # as the collector loop does: a failed poll is tried again
        try:
            seen += [m.source.offset for m in source.poll() if m.source is not None]
        except DriftdError:
            continue
    assert seen == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_the_polled_batch_commits_the_offsets_noted_while_polling(client: str) -> None:
    """A source notes each partition's next offset as it builds the messages; committing
    that batch commits exactly those, as the walk over its messages would."""
    from driftd.collector.confluent_source import ConfluentSource
    from driftd.collector.consumer import next_offsets
    from driftd.collector.kafka_source import KafkaSource

    settings = KafkaSettings()
    cls = KafkaSource if client == "kafka-python" else ConfluentSource
    committed: list[dict[Partition, int]] = []
    source = cls(settings, stored_offsets=lambda kind, topic, ps: {})
    source._commit = lambda offsets, *, asynchronous: committed.append(dict(offsets))  # type: ignore[method-assign]
    source._consumer = _Client(settings.predictions_topic)
    first = source.poll()
    assert source._polled_next is not None and source._polled_next[0] is first
    source.commit(first)
    second = source.poll()
    source.commit(list(second[:2]))  # not the polled list: its own offsets
    assert committed == [
        {(settings.predictions_topic, 0): 3},
        next_offsets(second[:2]),
    ] and next_offsets(second[:2]) == {(settings.predictions_topic, 0): 5}
    assert source._polled_next is None  # nothing held once committed
