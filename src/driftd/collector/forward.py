"""HTTP ingest in the central shape: validate here, then hand events to Kafka.

When Kafka is enabled, the collectors (one consumer group) own storage and
drift windows; an API replica that also counted windows would race them over
the same checkpoints. So HTTP events are judged here (the caller hears about
rejected ones at once), scrubbed, stamped with their arrival time when they
carry no timestamp, and produced to the predictions or outcomes topic keyed by
model; the answer comes once Kafka has acknowledged them.

The answer is exact per event: each send is awaited on its own, so when Kafka
acknowledges some events of a request and not others, the request's answer
names the positions that were not published (and the API answers 503 listing
them); a client that resends just those never duplicates the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from driftd.collector.deadletter import DeadLetterSink, summarise
from driftd.collector.messages import BatchResult, Message
from driftd.collector.validate import Validator
from driftd.errors import SourceError

__all__ = ["KafkaForwarder"]

logger = logging.getLogger(__name__)


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
        result = validated.result
        letters = summarise(result.dead_letters, self.validator.limits.max_dead_letters_per_request)
        self.dead_letters.publish(letters)  # SourceError: nothing published yet, 503
        sends: list[tuple[int, Any]] = []
        for msg, index, obj in validated.origin.values():
            event = (
                obj if obj.get("timestamp") is not None else {**obj, "timestamp": msg.received_ms}
            )
            key = str(event["model"]).encode()
            try:
                value = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
                sends.append(
                    (index, self.producer.send(self.topics[msg.kind], key=key, value=value))
                )
            except Exception as exc:  # the producer refused it before sending
                logger.warning("event %d not sent to Kafka: %s", index, type(exc).__name__)
                result.unpublished.append(index)
        try:
            self.producer.flush(timeout=self.timeout_s)
        except Exception as exc:
            logger.warning("Kafka flush failed: %s", exc)
        for index, future in sends:
            try:
                future.get(timeout=self.timeout_s)
            except Exception:
                result.unpublished.append(index)
        if result.unpublished and len(result.unpublished) == len(validated.origin) and sends:
            raise SourceError(f"none of {len(sends)} events was acknowledged by Kafka")
        result.stored = len(validated.origin) - len(result.unpublished)
        if result.unpublished:
            logger.warning(
                "Kafka acknowledged %d of %d events; the rest are answered as not published",
                result.stored,
                len(validated.origin),
            )
        return result
