"""KServe's CloudEvents from Kafka: the topic a Knative Kafka broker writes (``ce_`` headers).

Self-contained beside :mod:`driftd.collector.kafka_source`: its own consumer
group (``kserve.kafka_group_id``) on ``kserve.kafka_topic``. Each poll's halves
are paired; complete pairs go to the ingest path (with Kafka enabled, that
produces them to the predictions topic), and the offsets are committed once
ingest has them. A half still waiting for its other half is only in memory:
a restart loses it (its offset is committed), as a timeout would.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from driftd.collector.kafka_source import security_options
from driftd.collector.kserve import from_kafka
from driftd.collector.kserve_ingest import KServeIngest
from driftd.collector.messages import DeadLetter
from driftd.config.settings import KafkaSettings, KServeSettings
from driftd.errors import DecodeError

__all__ = ["KServeKafkaSource"]

logger = logging.getLogger(__name__)


class KServeKafkaSource:
    """Consumes KServe CloudEvents until ``stopping`` is set."""

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
        consumer = self._consumer()
        try:
            while not self.stopping.is_set():
                batch = consumer.poll(timeout_ms=self.kafka.poll_timeout_ms)
                letters: list[DeadLetter] = []
                futures = []
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
                        if completed:
                            futures.append(self.kserve.last_future)
                letters += self.kserve.expired()
                self.kserve.publish(letters)
                for future in futures:
                    if future is not None:
                        future.exception()  # wait: commit only what ingest has taken
                if batch:
                    consumer.commit()
        finally:
            self.kserve.publish(self.kserve.expired(everything=True))
            consumer.close()
