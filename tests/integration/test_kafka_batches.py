"""Batches of the kafka-python source against a real broker (Tansu): full while behind."""

from __future__ import annotations

import time

import pytest

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
