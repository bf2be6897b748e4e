"""Consumer lag per partition, from the Kafka source against a real broker (Tansu)."""

from __future__ import annotations

import time

import pytest

from driftd.collector.consumer import make_source
from driftd.config import KafkaSettings
from driftd.metrics import Metrics

from .kafka_helpers import CLIENTS, create_topics, kafka_settings, produce, unique

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("client", CLIENTS)
def test_lag_is_the_high_watermark_minus_the_first_offset_not_done_per_partition(
    tansu: str, client: str
) -> None:
    names = {k: unique(f"lag-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 2)
    produced = produce(tansu, names["predictions"],
                       [(f"k{i}".encode(), b"{}") for i in range(300)])  # fmt: skip
    assert sum(produced.values()) == 300
    settings = KafkaSettings(
        **kafka_settings(tansu, names, unique("g"), max_poll_records=40, client=client)
    )
    metrics = Metrics()
    source = make_source(settings, stored_offsets=lambda kind, topic, ps: {}, metrics=metrics)
    source.start()

    def lag(partition: int) -> float | None:
        return metrics.registry.get_sample_value(
            "driftd_kafka_consumer_lag",
            {"topic": names["predictions"], "partition": str(partition)},
        )

    consumed = dict.fromkeys(produced, 0)
    try:
        deadline = time.monotonic() + 120
        checked_midway = False
        while sum(consumed.values()) < 300:
            assert time.monotonic() < deadline, f"consumed {consumed} of {produced}"
            done = dict(consumed)  # what earlier batches handed out (processed by now)
            batch = source.poll()
            for m in batch:
                assert m.source is not None
                consumed[m.source.partition] += 1
            # the batch just handed out is not done: it counts as lag until the next poll
            behind = {p: lag(p) for p in produced}
            if batch and all(v is not None for v in behind.values()):
                for p, n in produced.items():
                    assert behind[p] == n - done[p], (p, behind, done)
                checked_midway = checked_midway or sum(consumed.values()) < 300
        assert checked_midway
        source.poll()
        assert all(lag(p) == 0 for p in produced)
    finally:
        source.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_backlog_is_polled_in_full_batches_of_max_poll_records(tansu: str, client: str) -> None:
    names = {k: unique(f"batch-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 1)
    produce(tansu, names["predictions"], [(None, b"{}")] * 5_000)
    settings = KafkaSettings(
        **kafka_settings(tansu, names, unique("g"), max_poll_records=1_000, client=client)
    )
    source = make_source(settings, stored_offsets=lambda kind, topic, ps: {})
    source.start()
    sizes: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while sum(sizes) < 5_000:
            assert time.monotonic() < deadline, f"batches so far: {sizes}"
            batch = source.poll()
            if batch:
                sizes.append(len(batch))
                source.commit(batch)
    finally:
        source.close()
    assert sum(sizes) == 5_000 and max(sizes) == 1_000, sizes
    assert sizes.count(1_000) >= 4, f"a backlog should fill the batches: {sizes}"
