"""HTTP ingest with Kafka: an event larger than the topic's ``max.message.bytes``.

kafka-python's idempotent producer turns a record the broker refuses alone into a
fatal error after which every send fails; one such event must be rejected on its
own (dead-lettered, named in the answer) while every other event, of the same
request and of later ones, is accepted, lands in Kafka once and only once.
Runs the daemon's producer against Tansu behind :class:`SizeLimitProxy`.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.collector.size_limit_broker import SizeLimitProxy
from tests.collector.test_deadletter_size import LIMIT, limited
from tests.integration.kafka_helpers import create_topics, read_topic, unique

from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.forward import KafkaForwarder
from driftd.collector.http_ingest import HttpIngest, IngestOutcome
from driftd.collector.kafka_source import make_producer
from driftd.collector.messages import Message
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.config import KafkaSettings
from driftd.metrics import Metrics

pytestmark = pytest.mark.kafka

__all__ = ["limited"]  # the module's fixture: Tansu behind the size-enforcing proxy


def event(event_id: str, size: int = 0) -> dict[str, Any]:
    pad = {f"pad{i}": "x" * 1000 for i in range(size // 1000)}
    return {"model": "m", "event_id": event_id, "features": {"x": 1, **pad}, "prediction": 1}


def published(bootstrap: str, topic: str, n: int) -> list[str]:
    """The event ids on ``topic``: waits up to 30 s for ``n``, and reads any more written."""
    return [orjson.loads(record.value)["event_id"] for record in read_topic(bootstrap, topic, n)]


def test_an_event_too_large_for_the_topic_stops_only_itself(
    limited: tuple[str, SizeLimitProxy],
) -> None:
    bootstrap, proxy = limited
    before = len(proxy.refused)
    topic = unique("fwd-small")
    create_topics(bootstrap, [topic], 1)
    kafka = KafkaSettings(enabled=True, bootstrap_servers=[bootstrap], predictions_topic=topic)
    validator = Validator(Scrubber({}), lambda m: True, Metrics(), keep_objects=True)
    letters = MemoryDeadLetters()
    forwarder = KafkaForwarder(
        validator,
        make_producer(kafka),
        {"predictions": topic, "outcomes": unique("fwd-outcomes")},
        letters,
        timeout_s=10,
        renew=lambda: make_producer(kafka),
    )
    ingest = HttpIngest(forwarder, max_events=100, max_wait_ms=0)
    ingest.start()

    def post(events: list[dict[str, Any]]) -> IngestOutcome:
        return ingest.submit([Message("predictions", e) for e in events]).result(timeout=60)

    try:
        alone = post([event("big", 2 * LIMIT)])  # the only record of its batch
        after = post([event("a0"), event("a1")])
        # one record batch holding small events and a large one: split, then refused alone
        mixed = post([event(f"b{i}", 1000) for i in range(3)] + [event("big2", 2 * LIMIT)])
        last = post([event("c0")])
    finally:
        ingest.close()
        forwarder.close()
    assert len(proxy.refused) > before, "no record batch was refused"
    assert (alone.accepted, alone.unpublished) == (0, [])
    assert [(d.index, d.reason) for d in alone.rejected] == [(0, "refused_by_kafka")]
    assert "MessageSizeTooLarge" in alone.rejected[0].detail
    assert (after.accepted, after.rejected, after.unpublished) == (2, [], [])
    assert (mixed.accepted, mixed.unpublished) == (3, [])
    assert [(d.index, d.reason) for d in mixed.rejected] == [(3, "refused_by_kafka")]
    assert (last.accepted, last.rejected, last.unpublished) == (1, [], [])
    assert sorted(published(bootstrap, topic, 6)) == ["a0", "a1", "b0", "b1", "b2", "c0"]
    dead = [(d.reason, d.payload["event_id"] if d.payload else None) for d in letters.letters]
    assert dead == [("refused_by_kafka", "big"), ("refused_by_kafka", "big2")]
