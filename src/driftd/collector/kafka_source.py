"""The Kafka source: a consumer-group member on the predictions and outcomes topics.

Auto-commit is off and ``auto_offset_reset`` explicit (kafka-python defaults
to auto-commit and ``latest``, which skips data). Offsets are committed per
partition as ``last processed + 1``, and only after the pipeline has stored
the batch.

After a crash between the store and the commit, Kafka delivers the batch
again, possibly cut differently. So when partitions are assigned, the source
asks storage for the highest offset it already holds for each of them and
marks messages at or below it as ``stored``: they are not written twice.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import (
    CommitFailedError,
    InvalidRecordError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
)

from driftd.collector.messages import Kind, Message
from driftd.config import KafkaSettings
from driftd.errors import SourceError, StorageDataError
from driftd.events import Coordinates
from driftd.metrics import Metrics

__all__ = [
    "KafkaSource",
    "await_delivery",
    "ensure_topics",
    "kafka_reachable",
    "make_producer",
]

logger = logging.getLogger(__name__)

StoredOffsets = Callable[[Kind, str, list[int]], dict[int, int]]


def security_options(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python's TLS and SASL arguments from the settings (none for PLAINTEXT).

    >>> from driftd.config.settings import KafkaSettings
    >>> security_options(KafkaSettings())
    {}
    >>> sorted(security_options(KafkaSettings(security_protocol="SSL", ssl_cafile="/ca.pem")))
    ['security_protocol', 'ssl_cafile', 'ssl_check_hostname']
    """
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        options["ssl_check_hostname"] = settings.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if value := getattr(settings, name):
                options[name] = value
    if protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # checked by the settings
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def make_producer(settings: KafkaSettings) -> KafkaProducer:
    """A producer that waits for all in-sync replicas (dead letters must be durable)."""
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-producer",
        acks="all",
        linger_ms=5,
        retries=5,
        **security_options(settings),
    )


_REFUSED_RECORDS = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError)


def await_delivery(producer: Any, futures: Sequence[Any], timeout_s: float, what: str) -> None:
    """Flush and wait until the broker acknowledged every send.

    Raises :class:`StorageDataError` when Kafka refuses a record for what it is
    (too large, invalid: retrying cannot help), else :class:`SourceError` (retried).
    """
    try:
        producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)
    except _REFUSED_RECORDS as exc:
        raise StorageDataError(f"{what} refused by Kafka: {exc}") from exc
    except Exception as exc:
        raise SourceError(f"{what} was not acknowledged by Kafka: {exc}") from exc


def ensure_topics(settings: KafkaSettings) -> None:
    """Create the three topics when missing (``kafka.ensure_topics``; for dev and demos)."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        **security_options(settings),
    )
    try:
        existing = set(admin.list_topics())
        wanted = [settings.predictions_topic, settings.outcomes_topic, settings.deadletter_topic]
        new = [
            NewTopic(name, num_partitions=settings.topic_partitions, replication_factor=1)
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
    finally:
        admin.close()


def kafka_reachable(settings: KafkaSettings, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to any bootstrap server succeeds."""
    for server in settings.bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.source._revoked(revoked)

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.source._assigned(assigned)


class KafkaSource:
    """Polls batches of :class:`Message` and commits them once they are stored."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        stored_offsets: StoredOffsets,
        on_revoked: Callable[[str, list[int]], None] = lambda topic, partitions: None,
        retry: Callable[[str, Callable[[], dict[int, int]]], dict[int, int]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stored_offsets = stored_offsets
        self.on_revoked = on_revoked
        self.retry = retry if retry is not None else (lambda step, fn: fn())
        self._kinds: dict[str, Kind] = {
            settings.predictions_topic: "predictions",
            settings.outcomes_topic: "outcomes",
        }
        self._stored: dict[tuple[str, int], int] = {}
        self._pending: set[TopicPartition] = set()
        self._consumer: Any = None

    def start(self) -> None:
        s = self.settings
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=s.bootstrap_servers,
                client_id=s.client_id,
                group_id=s.group_id,
                enable_auto_commit=False,
                auto_offset_reset=s.auto_offset_reset,
                max_poll_records=s.max_poll_records,
                max_poll_interval_ms=s.max_poll_interval_ms,
                session_timeout_ms=s.session_timeout_ms,
                heartbeat_interval_ms=s.heartbeat_interval_ms,
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=8 * 1024 * 1024,
                **security_options(s),
            )
            self._consumer.subscribe(list(self._kinds), listener=_Listener(self))
        except KafkaError as exc:
            raise SourceError(f"cannot connect to Kafka at {s.bootstrap_servers}: {exc}") from exc

    # rebalance callbacks run inside poll(), between batches
    def _revoked(self, revoked: Collection[TopicPartition]) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in revoked:
            self._stored.pop((tp.topic, tp.partition), None)
            self._pending.discard(tp)
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, partitions in by_topic.items():
            self.on_revoked(topic, partitions)
            if self.metrics is not None:
                for partition in partitions:  # a partition no longer ours has no lag here
                    with contextlib.suppress(KeyError):
                        self.metrics.consumer_lag.remove(topic, str(partition))
        if revoked:
            logger.info("partitions revoked: %s", sorted(map(str, revoked)))

    def _assigned(self, assigned: Collection[TopicPartition]) -> None:
        self._pending.update(assigned)
        if assigned:
            logger.info("partitions assigned: %s", sorted(map(str, assigned)))

    def _resolve_pending(self) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in self._pending:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, partitions in by_topic.items():
            kind = self._kinds[topic]

            def lookup(kind: Kind = kind, topic: str = topic, ps: list[int] = partitions) -> Any:
                return self.stored_offsets(kind, topic, ps)

            found = self.retry("stored offsets", lookup)
            for partition in partitions:
                self._stored[(topic, partition)] = found.get(partition, -1)
        self._pending.clear()

    def poll(self) -> list[Message]:
        """One batch (possibly empty) of messages from the assigned partitions."""
        try:
            polled = self._consumer.poll(
                timeout_ms=self.settings.poll_timeout_ms, max_records=self.settings.max_poll_records
            )
        except KafkaError as exc:
            raise SourceError(f"poll failed: {exc}") from exc
        if self._pending:
            self._resolve_pending()
        if self.metrics is not None:
            self._record_lag(self.metrics)
        now_ms = int(time.time() * 1000)
        out: list[Message] = []
        for tp, records in polled.items():
            kind = self._kinds[tp.topic]
            high = self._stored.get((tp.topic, tp.partition), -1)
            for r in records:
                out.append(
                    Message(
                        kind,
                        r.value if r.value is not None else b"",
                        Coordinates(r.topic, r.partition, r.offset),
                        now_ms,
                        r.offset <= high,
                    )
                )
        return out

    def _record_lag(self, metrics: Metrics) -> None:
        """Per assigned partition: the high watermark (from the last fetch) minus our position."""
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:  # no fetch answered for it yet
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except (KafkaError, TypeError):
                continue
            if position is not None:
                lag = max(0, high - position)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    def commit(self, messages: Sequence[Message]) -> None:
        """Commit ``last offset + 1`` for each partition in the batch."""
        from kafka.structs import OffsetAndMetadata

        last: dict[TopicPartition, int] = {}
        for msg in messages:
            src = msg.source
            if src is None:
                continue
            tp = TopicPartition(src.topic, src.partition)
            if src.offset >= last.get(tp, -1):
                last[tp] = src.offset
        if not last:
            return
        offsets = {tp: OffsetAndMetadata(o + 1, "", -1) for tp, o in last.items()}
        try:
            self._consumer.commit(offsets=offsets)
        except CommitFailedError as exc:
            # The group rebalanced mid-batch: the batch is stored, and the new
            # owner skips it through the stored high-water mark.
            logger.warning("commit failed after a rebalance (batch is stored): %s", exc)
        except KafkaError as exc:
            raise SourceError(f"commit failed: {exc}") from exc

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
