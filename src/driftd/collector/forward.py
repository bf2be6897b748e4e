"""HTTP ingest in the central shape: validate here, then hand events to Kafka.

When Kafka is enabled, the collectors (one consumer group) own storage and
drift windows; an API replica that also counted windows would race them over
the same checkpoints. So HTTP events are judged here (the caller hears about
rejected ones at once), scrubbed, stamped with their arrival time when they
carry no timestamp, and produced to the predictions or outcomes topic keyed by
model; the answer comes once Kafka has acknowledged them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from driftd.collector.deadletter import DeadLetterSink
from driftd.collector.kafka_source import await_delivery
from driftd.collector.messages import BatchResult, Message
from driftd.collector.validate import Validator

__all__ = ["KafkaForwarder"]


class KafkaForwarder:
    """Publishes validated, scrubbed events to their Kafka topics."""

    def __init__(
        self,
        validator: Validator,
        producer: Any,
        topics: dict[str, str],
        dead_letters: DeadLetterSink,
        timeout_s: float = 30.0,
    ) -> None:
        if not validator.keep_objects:
            raise ValueError("validator must keep the scrubbed objects (keep_objects=True)")
        missing = {"predictions", "outcomes"} - set(topics)
        if missing:
            raise ValueError(f"topics lacks {sorted(missing)}")
        self.validator = validator
        self.producer = producer
        self.topics = topics
        self.dead_letters = dead_letters
        self.timeout_s = timeout_s

    def process(self, messages: Sequence[Message]) -> BatchResult:
        validated = self.validator.run(messages)
        self.dead_letters.publish(validated.result.dead_letters)
        futures = []
        for msg, obj in validated.objects:
            event = (
                obj if obj.get("timestamp") is not None else {**obj, "timestamp": msg.received_ms}
            )
            key = str(event["model"]).encode()
            futures.append(
                self.producer.send(self.topics[msg.kind], key=key, value=orjson.dumps(event))
            )
        await_delivery(self.producer, futures, self.timeout_s, f"{len(futures)} events")
        validated.result.stored = len(futures)
        return validated.result
