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

    def assignment(self) -> set[Any]:  # (kafka-python) no high watermark known: not behind
        return set()

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


class _Fetching:
    """kafka-python's consumer over partitions of ``size`` records each: a poll hands
    out at most what one fetch of ``fetch`` records per partition holds (as Tansu
    answers), the position moving past it; ``revoke_on`` (a poll's number) revokes
    partition 1 inside that poll, as a rebalance does."""

    def __init__(
        self,
        source: Any,
        topic: str,
        size: int,
        fetch: int,
        revoke_on: int = 0,
        fail_on: int = 0,
        joined: bool = True,
    ) -> None:
        from kafka import TopicPartition

        self.source, self.size, self.fetch, self.revoke_on = source, size, fetch, revoke_on
        self.fail_on = fail_on
        self.joined = joined  # False: the revoke's rejoin is still pending (assignment kept)
        self.owned = [TopicPartition(topic, p) for p in (0, 1)]
        self.at = dict.fromkeys(self.owned, 0)
        self.buffered = dict.fromkeys(self.owned, 0)
        self.polls: list[int] = []  # each poll's max_records

    def assignment(self) -> set[Any]:
        return set(self.owned)

    def seek(self, tp: Any, offset: int) -> None:
        if tp not in self.owned:
            raise ValueError("Unassigned partition")
        self.at[tp], self.buffered[tp] = offset, 0

    def highwater(self, tp: Any) -> int:
        return self.size

    def position(self, tp: Any, timeout_ms: int) -> int:
        return self.at[tp]

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        from types import SimpleNamespace

        from kafka.errors import KafkaConnectionError

        self.polls.append(max_records)
        if len(self.polls) == self.revoke_on:
            gone = self.owned[-1]
            if self.joined:
                self.owned.pop()
            self.source._revoked([(gone.topic, gone.partition)])
            if not self.joined:  # the join has not completed within this poll
                return {}
        if len(self.polls) == self.fail_on:
            raise KafkaConnectionError("broker gone")
        out: dict[Any, list[Any]] = {}
        for tp in self.owned:
            if not self.buffered[tp]:  # the next fetch answered
                self.buffered[tp] = min(self.fetch, self.size - self.at[tp])
            take = min(self.buffered[tp], max_records - sum(map(len, out.values())))
            if take > 0:
                at = self.at[tp]
                out[tp] = [SimpleNamespace(offset=o, value=b"{}") for o in range(at, at + take)]
                self.at[tp] += take
                self.buffered[tp] -= take
        return out


def _kafka_python(max_poll_records: int, stored: int = -1) -> Any:
    """A kafka-python source whose storage holds each partition up to offset ``stored``."""
    from driftd.collector.kafka_source import KafkaSource

    return KafkaSource(
        KafkaSettings(max_poll_records=max_poll_records),
        stored_offsets=lambda kind, topic, ps: dict.fromkeys(ps, stored),
    )


def _offsets(batch: list[Message]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for m in batch:
        assert m.source is not None
        out.setdefault(m.source.partition, []).append(m.source.offset)
    return out


def test_a_kafka_python_batch_is_topped_up_while_the_partitions_are_behind() -> None:
    source = _kafka_python(max_poll_records=100)
    client = source._consumer = _Fetching(source, source.settings.predictions_topic, 120, 30)
    batches = [_offsets(source.poll()) for _ in range(3)]
    # the client's polls hand out 60 at most (30 a partition); the source's batches are
    # full until the partitions are done, each partition's records in order
    assert [sum(map(len, b.values())) for b in batches] == [100, 100, 40]
    for p in (0, 1):
        assert [o for b in batches for o in b.get(p, [])] == list(range(120))
    assert client.polls[:2] == [100, 40]  # a top-up asks for what is missing
    n = len(client.polls)
    assert source.poll() == [] and len(client.polls) == n + 1  # caught up: no top-up


def test_a_rebalance_inside_a_top_up_hands_out_nothing_and_reads_again_what_stays() -> None:
    """The rebalance inside the second client poll takes partition 1 away: nothing of the
    batch is handed out (what the first poll got from partition 1 is its new owner's,
    read from the last commit), and partition 0 is read again from its first record."""
    source = _kafka_python(max_poll_records=100)
    client = source._consumer = _Fetching(
        source, source.settings.predictions_topic, 120, 30, revoke_on=2
    )
    assert source.poll() == []
    assert client.owned == [client.owned[0]] and client.at[client.owned[0]] == 0
    again = _offsets(source.poll())
    assert list(again) == [0] and again[0][0] == 0


def test_a_revoke_whose_join_is_still_pending_leaves_the_batch_to_the_next_poll() -> None:
    """kafka-python revokes (the stored marks are forgotten) and sends its JoinGroup; the
    assignment changes only once the join completes, which may be after the top-up
    stopped waiting. Records handed out then would go out unmarked as stored, or belong
    to another member by the time they are committed: the batch is read again."""
    source = _kafka_python(max_poll_records=100, stored=10**9)  # a redelivery: all stored
    topic = source.settings.predictions_topic
    source._assigned([(topic, 0), (topic, 1)])
    client = source._consumer = _Fetching(source, topic, 120, 30, revoke_on=2, joined=False)
    assert source.poll() == []
    assert all(client.at[tp] == 0 for tp in client.owned)  # both sought back
    source._assigned([(topic, 0), (topic, 1)])  # the join completes: the same partitions
    batch = source.poll()
    again = _offsets(batch)
    assert [again[p][0] for p in (0, 1)] == [0, 0]
    assert all(m.stored for m in batch)  # the marks apply: not written a second time


def test_a_top_up_that_fails_hands_out_what_the_first_poll_got() -> None:
    """The client's position is past the first poll's records: a failure in the top-up
    must not raise them away (the next commit would cover the gap)."""
    source = _kafka_python(max_poll_records=100)
    client = source._consumer = _Fetching(
        source, source.settings.predictions_topic, 120, 30, fail_on=2
    )
    assert _offsets(source.poll()) == {0: list(range(30)), 1: list(range(30))}
    after = _offsets(source.poll())  # and the next batch goes on from there
    assert [after[p][0] for p in (0, 1)] == [30, 30] and sum(map(len, after.values())) == 100
    assert client.polls[:2] == [100, 40]
