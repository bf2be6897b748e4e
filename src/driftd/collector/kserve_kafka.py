"""KServe's CloudEvents from Kafka: the topic a Knative Kafka broker writes (``ce_`` headers).

Self-contained beside :mod:`driftd.collector.kafka_source`: its own consumer
group (``kserve.kafka_group_id``) on ``kserve.kafka_topic``. Each poll's halves
are paired; complete pairs go to the ingest path (with Kafka enabled, that
produces them to the predictions topic), and the offsets are committed once
ingest has them and the batch's dead letters are durable. What ingest did not
take (an exception, or events Kafka did not acknowledge) and dead letters the
sink refused are handed over again, with backoff, before the commit; stopping
first leaves the batch uncommitted, consumed again on restart (a pair already
taken may then be stored twice). A half still waiting for its other half is
only in memory: a restart loses it (its offset is committed), as a timeout
would, and so does a shutdown during an ingest outage to a pair whose first
half came in an earlier poll (see docs/decisions.md, KServe).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

from driftd.collector.http_ingest import IngestOutcome
from driftd.collector.kafka_source import security_options
from driftd.collector.kserve import from_kafka
from driftd.collector.kserve_ingest import KServeIngest
from driftd.collector.messages import DeadLetter, Message
from driftd.config.settings import KafkaSettings, KServeSettings
from driftd.errors import DecodeError

__all__ = ["KServeKafkaSource"]

logger = logging.getLogger(__name__)


_Handed = tuple[list[Message], "Future[IngestOutcome]"]


class KServeKafkaSource:
    """Consumes KServe CloudEvents until ``stopping`` is set."""

    retry_initial_s = 0.5
    retry_max_s = 30.0

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: KServeSettings,
        kserve: KServeIngest,
        stopping: threading.Event,
    ) -> None:
        if not settings.kafka_topic:
            raise ValueError("kserve.kafka_topic is empty: nothing to consume")
        self.kafka = kafka
        self.settings = settings
        self.kserve = kserve
        self.stopping = stopping
        self.consumed = 0

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        k = self.kafka
        return KafkaConsumer(
            self.settings.kafka_topic,
            bootstrap_servers=k.bootstrap_servers,
            client_id=f"{k.client_id}-kserve",
            group_id=self.settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset=k.auto_offset_reset,
            max_poll_records=min(k.max_poll_records, 2_000),
            max_poll_interval_ms=k.max_poll_interval_ms,
            session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=k.heartbeat_interval_ms,
            **security_options(k),
        )

    def run(self) -> None:
        from kafka.errors import CommitFailedError

        consumer = self._consumer()
        try:
            while not self.stopping.is_set():
                batch = consumer.poll(timeout_ms=self.kafka.poll_timeout_ms)
                letters: list[DeadLetter] = []
                handed: list[_Handed] = []
                for records in batch.values():
                    for record in records:
                        headers = [(k, v) for k, v in (record.headers or [])]
                        try:
                            event = from_kafka(headers, record.value or b"")
                        except DecodeError as exc:
                            logger.warning(
                                "KServe record %s/%d/%d: %s", record.topic, record.partition,
                                record.offset, exc.reason,
                            )  # fmt: skip
                            continue
                        completed, bad = self.kserve.accept(event)
                        letters += bad
                        self.consumed += 1
                        if completed and self.kserve.last_future is not None:
                            handed.append((self.kserve.last_messages, self.kserve.last_future))
                letters += self.kserve.expired()
                if not self._deliver(letters, handed):
                    break  # stopping first: not committed, consumed again on restart
                if batch:
                    try:
                        consumer.commit()
                    except CommitFailedError as exc:  # the group moved on during a long wait
                        logger.warning("KServe offsets not committed (%s): redelivered", exc)
        finally:
            self.kserve.publish(self.kserve.expired(everything=True))
            consumer.close()

    def _deliver(self, letters: list[DeadLetter], handed: list[_Handed]) -> bool:
        """Wait until ingest has taken every pair and the dead letters are durable,
        handing over again what failed, with backoff; False if stopping comes first."""
        delay = self.retry_initial_s
        while True:
            refused = [] if self.kserve.publish(letters) else letters
            missing = [
                left for messages, future in handed if (left := _not_taken(messages, future))
            ]
            if not missing and not refused:
                return True
            logger.warning(
                "KServe: %d predictions not taken by ingest, %d dead letters not published; "
                "again in %.1fs",
                sum(map(len, missing)),
                len(refused),
                delay,
            )
            if self.stopping.wait(delay):
                return False
            delay = min(delay * 2, self.retry_max_s)
            letters = refused
            handed = [(messages, self.kserve.ingest.submit(messages)) for messages in missing]


def _not_taken(messages: list[Message], future: Future[IngestOutcome]) -> list[Message]:
    """What of ``messages`` ingest did not take: all of them if it failed, else those
    Kafka did not acknowledge (rejected events are taken: they are dead-lettered)."""
    if future.exception() is not None:  # waits until ingest is done with them
        return messages
    return [messages[i] for i in future.result().unpublished]
