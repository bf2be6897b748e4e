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

An event Kafka refuses for what it is (larger than the topic's
``max.message.bytes``, or invalid) is rejected on its own, reason
``refused_by_kafka``, and dead-lettered: resending it cannot help. kafka-python's
idempotent producer turns a record refused alone into a fatal error (it fails
every send after it, and every batch not yet acknowledged with the same error),
so after any refusal the producer is replaced by a new one (``renew``) and the
events whose sends failed with a refusal are produced again, each alone, through
it: those refused alone are the rejected ones, the others are published.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from driftd.collector.deadletter import DeadLetterSink, summarise
from driftd.collector.kafka_source import _REFUSED_RECORDS, delivery_refusals
from driftd.collector.messages import BatchResult, DeadLetter, Message
from driftd.collector.pipeline import publish_dead_letters
from driftd.collector.validate import Validator
from driftd.errors import SourceError
from driftd.monitoring.windows import run_once

__all__ = ["KafkaForwarder"]

logger = logging.getLogger(__name__)


class KafkaForwarder:
    """Publishes validated, scrubbed events to their Kafka topics.

    ``renew`` makes a new producer, which replaces ``producer`` after Kafka refused
    a record (kafka-python's idempotent producer is unusable after that); without
    it the producer is kept. :meth:`close` closes the producer in use.
    """

    def __init__(
        self,
        validator: Validator,
        producer: Any,
        topics: dict[str, str],
        dead_letters: DeadLetterSink,
        timeout_s: float = 30.0,
        renew: Callable[[], Any] | None = None,
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
        self.renew = renew
        self._stale = False  # the producer saw a refusal and could not be replaced yet

    def close(self, timeout: float = 10.0) -> None:
        self.producer.close(timeout=timeout)

    def _renew(self) -> bool:
        """Replace the producer after a refusal; False when no new one could be made."""
        if self.renew is None:
            return False
        self._stale = True
        try:
            fresh = self.renew()
        except Exception as exc:
            logger.warning("no new Kafka producer after a refused record: %s", exc)
            return False
        old, self.producer, self._stale = self.producer, fresh, False
        with contextlib.suppress(Exception):  # it may be in a fatal state
            old.close(timeout=0)
        return True

    def _send_alone(self, topic: str, key: bytes, value: bytes) -> Exception | None:
        """Produce one record in a record batch of its own and wait: None once
        acknowledged, the refusal when Kafka refused it for what it is; raises
        :class:`SourceError` on any other failure."""
        future = self.producer.send(topic, key=key, value=value)
        refused = delivery_refusals(self.producer, [future], self.timeout_s, f"topic {topic!r}")
        if not refused:
            return None
        self._renew()
        return refused[0][1]

    def process(self, messages: Sequence[Message]) -> BatchResult:
        validated = self.validator.run(messages)
        result = validated.result
        letters = summarise(result.dead_letters, self.validator.limits.max_dead_letters_per_request)
        if self._stale and not self._renew():
            raise SourceError("no Kafka producer since a record was refused")
        self.dead_letters.publish(letters)  # SourceError: nothing published yet, 503
        sends: list[tuple[int, Any]] = []
        records: dict[int, tuple[Message, dict[str, Any], str, bytes, bytes]] = {}
        for msg, index, obj in validated.origin.values():
            event = (
                obj if obj.get("timestamp") is not None else {**obj, "timestamp": msg.received_ms}
            )
            key = str(event["model"]).encode()
            try:
                value = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
                topic = self.topics[msg.kind]
                records[index] = (msg, event, topic, key, value)
                sends.append((index, self.producer.send(topic, key=key, value=value)))
            except Exception as exc:  # the producer refused it before sending
                logger.warning("event %d not sent to Kafka: %s", index, type(exc).__name__)
                result.unpublished.append(index)
        try:
            self.producer.flush(timeout=self.timeout_s)
        except Exception as exc:
            logger.warning("Kafka flush failed: %s", exc)
        again: list[int] = []
        for index, future in sends:
            try:
                future.get(timeout=self.timeout_s)
            except _REFUSED_RECORDS:
                again.append(index)
            except Exception:
                result.unpublished.append(index)
        refused = self._again(again, records, result) if again else []
        if result.unpublished and len(result.unpublished) == len(validated.origin) and sends:
            raise SourceError(f"none of {len(sends)} events was acknowledged by Kafka")
        result.stored = len(validated.origin) - len(result.unpublished) - len(refused)
        if result.unpublished:
            logger.warning(
                "Kafka acknowledged %d of %d events; the rest are answered as not published",
                result.stored,
                len(validated.origin),
            )
        return result

    def _again(
        self,
        indices: list[int],
        records: dict[int, tuple[Message, dict[str, Any], str, bytes, bytes]],
        result: BatchResult,
    ) -> list[DeadLetter]:
        """Produce again, each alone through a new producer, the events whose sends
        failed with a refusal (refused themselves, or failed by kafka-python after
        another record was refused); dead-letter those refused alone. The first
        that fails otherwise (an outage) ends it: each resend waits up to the
        timeout, so it and the rest are answered as not published at once."""
        logger.warning(
            "Kafka refused a record; producing %d events again one record batch each",
            len(indices),
        )
        if not self._renew():
            result.unpublished.extend(indices)
            return []
        refused: list[DeadLetter] = []
        for n, index in enumerate(indices):
            msg, event, topic, key, value = records[index]
            if self._stale:  # refused, and no new producer: the old one fails every send
                result.unpublished.extend(indices[n:])
                break
            try:
                error = self._send_alone(topic, key, value)
            except Exception as exc:
                # an outage: each further send would wait its timeout as well
                logger.warning("event %d not acknowledged by Kafka: %s", index, exc)
                result.unpublished.extend(indices[n:])
                break
            if error is not None:
                detail = f"Kafka refused the event alone ({type(error).__name__})"
                refused.append(
                    DeadLetter(
                        msg.kind, "refused_by_kafka", detail, event, None, index, msg.request
                    )
                )
        if refused:
            self._publish_refused(refused)
            result.dead_letters.extend(refused)
        return refused

    def _publish_refused(self, letters: list[DeadLetter]) -> None:
        """Dead-letter events Kafka refused (those the dead-letter topic refuses too go
        again without their payloads); the others of the batch are published, so a
        failure here is logged, never raised (the answer still names them)."""
        try:
            publish_dead_letters(run_once, self.dead_letters, letters, len(letters))
        except Exception as exc:
            logger.error("%d dead letters of events Kafka refused lost: %s", len(letters), exc)
