"""Batches of the kafka-python source against a real broker (Tansu): full while behind."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka import KafkaConsumer

from driftd.collector.consumer import make_source
from driftd.config import KafkaSettings

from .kafka_helpers import create_topics, kafka_settings, produce, unique

pytestmark = pytest.mark.kafka

EVENT = b'{"model": "m", "features": {"x": 1.5}, "pad": "' + b"." * 380 + b'"}'
"""~430 bytes, the size of a typical prediction event."""


def test_a_partition_that_is_behind_is_handed_out_in_full_batches(tansu: str) -> None:
    """Tansu answers a fetch with fewer records than ``max_poll_records`` (~12,000 of
    these events): kafka-python's polls alone came as 10,000, ~2,000, 10,000...; every
    batch but the last is full now."""
    names = {k: unique(f"full-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 1)
    n = 36_000
    assert produce(tansu, names["predictions"], ((None, EVENT) for _ in range(n))) == {0: n}
    settings = KafkaSettings(**kafka_settings(tansu, names, unique("g"), max_poll_records=10_000))
    source = make_source(settings, stored_offsets=lambda kind, topic, ps: {})
    source.start()
    sizes: list[int] = []
    offsets: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while sum(sizes) < n:
            assert time.monotonic() < deadline, f"consumed {sum(sizes)} of {n}: {sizes}"
            batch = source.poll()
            if batch:
                sizes.append(len(batch))
                offsets += [m.source.offset for m in batch if m.source is not None]
                source.commit(batch)
    finally:
        source.close()
    assert offsets == list(range(n))  # in order, none twice, none missing
    assert sizes == [10_000, 10_000, 10_000, 6_000], sizes


def test_a_rebalance_inside_a_top_up_reads_the_batch_again_with_its_stored_marks(
    tansu: str,
) -> None:
    """A rejoin requested just before a top-up: the revoke forgets the stored marks,
    and the JoinGroup waits for the other, busy member, so the top-up ends before the
    assignment changes. The batch must not go out then (its records unmarked): it is
    read again, every record marked as stored (storage holds them all, as after a
    crash), none skipped."""
    names = {k: unique(f"rejoin-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 2)
    n = 40_000
    produce(tansu, names["predictions"], ((str(i % 2).encode(), EVENT) for i in range(n)))
    group = unique("g")
    settings = KafkaSettings(**kafka_settings(tansu, names, group, max_poll_records=30_000))
    source = make_source(settings, stored_offsets=lambda kind, topic, ps: dict.fromkeys(ps, 10**9))
    other = KafkaConsumer(
        bootstrap_servers=tansu, group_id=group, enable_auto_commit=False,
        session_timeout_ms=6000, heartbeat_interval_ms=1000, max_poll_interval_ms=60_000,
        max_poll_records=1,
    )  # fmt: skip
    try:
        other.subscribe([names["predictions"], names["outcomes"]])
        deadline = time.monotonic() + 60
        while not other.assignment():
            assert time.monotonic() < deadline, "the other member never joined"
            other.poll(timeout_ms=200)
        source.start()
        consumer: Any = source._consumer  # type: ignore[attr-defined]
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the source never joined"
            other.poll(timeout_ms=100)
            consumer.poll(timeout_ms=100, max_records=1)
        consumer.seek_to_beginning()  # what the joining polls took is read again
        # from here on the other member is busy (never polls): a rejoin waits for it
        real = source._poll  # type: ignore[attr-defined]
        rejoined: list[bool] = []

        def top_up_after_a_rejoin(timeout_ms: int, max_records: int) -> Any:
            if max_records < settings.max_poll_records and not rejoined:
                consumer._coordinator.request_rejoin()  # as a heartbeat's answer asks
                rejoined.append(True)
            return real(timeout_ms, max_records)

        source._poll = top_up_after_a_rejoin  # type: ignore[attr-defined]
        batch: list[Any] = []
        while not batch:
            assert time.monotonic() < deadline + 60, "no batch after the rejoin"
            batch = source.poll()
        assert rejoined
        firsts: dict[int, int] = {}
        for m in batch:
            firsts.setdefault(m.source.partition, m.source.offset)
        assert set(firsts.values()) == {0}, firsts  # read again from the start
        assert all(m.stored for m in batch)  # with the marks: not written a second time
    finally:
        other.close()
        source.close()
