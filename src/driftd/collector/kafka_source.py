"""The Kafka source on kafka-python: a consumer-group member on the predictions and outcomes topics.

Offsets, stored high-water marks, commits and rebalance bookkeeping are shared
with the confluent-kafka source (:mod:`driftd.collector.consumer`). This module
also holds the kafka-python producer and admin helpers used by every client
setting (dead letters, the HTTP forwarder, ``ensure_topics``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Collection, Iterator, Sequence
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

from driftd.collector.consumer import ConsumerSource, Partition
from driftd.collector.fastpath import cycle_collector_paused
from driftd.collector.messages import Message, coordinates
from driftd.config import KafkaSettings
from driftd.errors import SourceError, StorageDataError

__all__ = [
    "KafkaSource",
    "await_delivery",
    "delivery_refusals",
    "ensure_topics",
    "kafka_reachable",
    "make_producer",
]

logger = logging.getLogger(__name__)


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


def make_producer(settings: KafkaSettings, *, idempotent: bool = True) -> KafkaProducer:
    """A producer that waits for all in-sync replicas (dead letters must be durable).

    Every caller flushes once per batch and waits for each send, so lingering
    costs no latency: ``linger_ms`` and ``batch_size`` are large enough that a
    batch's records go out in a few record batches, not one per few sends (each
    new record batch wakes the sender thread; about a third of ``send``'s cost with
    the old 5 ms and 16 KiB). ``batch_size`` stays well under the brokers'
    default ``message.max.bytes`` (1 MiB).

    ``idempotent=False`` for the dead-letter producer: kafka-python's idempotent
    producer turns a record the broker refuses alone as too large into a fatal
    error, after which every send fails; a dead letter too large must only lose
    its payload.
    """
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{'producer' if idempotent else 'deadletters'}",
        acks="all",
        linger_ms=100,
        batch_size=256 * 1024,
        retries=5,
        enable_idempotence=idempotent,
        **security_options(settings),
    )


_REFUSED_RECORDS = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidRecordError)


def await_delivery(producer: Any, futures: Sequence[Any], timeout_s: float, what: str) -> None:
    """Flush and wait until the broker acknowledged every send.

    Raises :class:`StorageDataError` when Kafka refuses a record for what it is
    (too large, invalid: retrying cannot help), else :class:`SourceError` (retried).
    """
    refused = delivery_refusals(producer, futures, timeout_s, what)
    if refused:
        raise StorageDataError(f"{what} refused by Kafka: {refused[0][1]}")


def delivery_refusals(
    producer: Any, futures: Sequence[Any], timeout_s: float, what: str
) -> list[tuple[int, Exception]]:
    """Flush, wait for every send, and return the sends Kafka refused for what they
    are (too large, invalid), as (index, error); raises :class:`SourceError` when a
    send is not acknowledged for any other reason (an outage: retried).

    Each future is asked, whatever ``flush`` raised: kafka-python splits a record
    batch the broker refuses as too large and sends the halves again, and its
    ``flush`` then fails at once ("Future not done") while the futures, bound to
    the halves, still get their answer.
    """
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(KafkaError):
        producer.flush(timeout=timeout_s)
    refused: list[tuple[int, Exception]] = []
    for i, future in enumerate(futures):
        try:
            future.get(timeout=max(deadline - time.monotonic(), 0.0))
        except _REFUSED_RECORDS as exc:
            refused.append((i, exc))
        except Exception as exc:
            raise SourceError(f"{what} was not acknowledged by Kafka: {exc}") from exc
    return refused


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
        # No commit here: kafka-python runs this listener on its I/O loop, where a
        # synchronous commit cannot be awaited. An asynchronous commit already sent
        # goes to the coordinator on the same connection ahead of the JoinGroup.
        self.source._revoked(revoked)

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.source._assigned(assigned)


class KafkaSource(ConsumerSource):
    """Polls batches of :class:`Message` and commits them once they are stored (kafka-python)."""

    _consumer: Any = None

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
                fetch_min_bytes=s.fetch_min_bytes,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=8 * 1024 * 1024,
                **security_options(s),
            )
            self._consumer.subscribe(list(self._kinds), listener=_Listener(self))
        except KafkaError as exc:
            raise SourceError(f"cannot connect to Kafka at {s.bootstrap_servers}: {exc}") from exc

    def _fetch(self) -> Any:
        """Up to ``max_poll_records`` records, topped up while the partitions are behind.

        kafka-python's ``poll`` hands out what its completed fetches hold: with a
        broker that answers a fetch with ~12,000 records, polls of 10,000 came as
        10,000, ~2,100, 10,000, ~2,100... Every batch has fixed costs (an insert, a
        checkpoint, a commit), so while a partition is known to be behind (its high
        watermark past the position) the batch is topped up by further polls, at
        most :data:`TOP_UPS` of them and each no longer than ``fetch_max_wait_ms``
        (a broker holding the records answers at once). A consumer that is caught
        up never waits for more.
        """
        s = self.settings
        polled = self._poll(s.poll_timeout_ms, s.max_poll_records)
        total = sum(map(len, polled.values()))
        for _ in range(TOP_UPS):
            if not 0 < total < s.max_poll_records or not self._behind():
                break
            generation, wait_ms = self._rebalances, min(s.fetch_max_wait_ms, s.poll_timeout_ms)
            more: dict[Any, list[Any]] = {}
            failed = None
            try:
                more = self._poll(wait_ms, s.max_poll_records - total)
            except SourceError as exc:
                # the client's position is past what was polled already: hand that
                # out (raising would lose it); the failure itself is logged only
                failed = exc
            if self._rebalances != generation:
                return self._rewound(_merged(polled, more))
            if failed is not None:
                logger.warning("topping up a batch failed; handing out what came first: %s", failed)
                break
            if not more:
                break
            polled = _merged(polled, more)
            total += sum(map(len, more.values()))
        return polled

    def _rewound(self, polled: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
        """After a rebalance inside a top-up: nothing of the batch is handed out, and
        each partition still assigned is sought back to its first record polled, so
        the next poll reads them again once the group has settled (with the stored
        marks of whatever is then assigned). The revoked partitions' marks are gone
        already, and the assignment itself changes only when the group's join
        completes, which may be after the top-up gave up waiting. What cannot be
        sought back is handed out, as before a rebalance: skipping it would leave
        a gap the next commit covers."""
        owned = set(self._consumer.assignment())
        kept: dict[Any, list[Any]] = {}
        for tp, records in polled.items():
            if not records or tp not in owned:
                continue
            try:
                self._consumer.seek(tp, records[0].offset)
            except (KafkaError, ValueError) as exc:  # ValueError: no longer assigned
                logger.warning("cannot seek %s back after a rebalance: %s", tp, exc)
                kept[tp] = records
        return kept

    def _poll(self, timeout_ms: int, max_records: int) -> Any:
        try:
            return self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            raise SourceError(f"poll failed: {exc}") from exc

    def _behind(self) -> bool:
        """Whether an assigned partition's last known high watermark is past its position."""
        return any(position < high for _, high, position in self._watermarks())

    def _watermarks(self) -> Iterator[tuple[TopicPartition, int, int]]:
        """(partition, high watermark from the last fetch, position) of each assigned
        partition for which both are known (no fetch answered for it yet: not known)."""
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except (KafkaError, TypeError):
                continue
            if position is not None:
                yield tp, high, position

    def poll(self) -> list[Message]:
        """One batch (possibly empty) of messages from the assigned partitions."""
        polled = self._polled(self._fetch)
        if self.metrics is not None:
            self._record_lag(
                {(tp.topic, tp.partition): rs[0].offset for tp, rs in polled.items() if rs}
            )
        now_ms = int(time.time() * 1000)
        out: list[Message] = []
        append = out.append
        with cycle_collector_paused():
            for tp, records in polled.items():
                kind = self._kinds[tp.topic]
                high = self._stored.get(tp, -1)
                topic, partition = tp.topic, tp.partition
                for r in records:
                    offset, value = r.offset, r.value
                    source = coordinates(topic, partition, offset)
                    append(
                        Message(
                            kind,
                            value if value is not None else b"",
                            source,
                            now_ms,
                            offset <= high,
                        )
                    )
        # a partition's records come in offset order: its last one is the highest
        self._polled_batch(
            out, {(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in polled.items() if rs}
        )
        return out

    def _record_lag(self, in_hand: dict[Partition, int]) -> None:
        """Per assigned partition: the high watermark (from the last fetch) minus the first
        offset not yet done (``in_hand``: the first of the batch being handed out)."""
        for tp, high, position in self._watermarks():
            first = in_hand.get((tp.topic, tp.partition), position)
            self._set_lag(tp.topic, tp.partition, high, min(position, first))

    def _commit(self, offsets: dict[Partition, int], *, asynchronous: bool) -> None:
        from kafka.structs import OffsetAndMetadata

        committed = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        try:
            if asynchronous:
                self._consumer.commit_async(offsets=committed, callback=_commit_answered)
            else:
                self._consumer.commit(offsets=committed, timeout_ms=COMMIT_TIMEOUT_MS)
        except CommitFailedError as exc:
            # The group rebalanced mid-batch: the batch is stored, and the new
            # owner skips it through the stored high-water mark.
            logger.warning("commit failed after a rebalance (batch is stored): %s", exc)
        except KafkaError as exc:
            raise SourceError(f"commit failed: {exc}") from exc

    def close(self) -> None:
        if self._consumer is not None:
            self._commit_unconfirmed()
            self._consumer.close(autocommit=False)
            self._consumer = None


TOP_UPS = 3
"""Further polls at most that top up one batch (see :meth:`KafkaSource._fetch`)."""


def _merged(polled: dict[Any, list[Any]], more: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
    """Two polls' records per partition, each partition's in offset order (the second
    poll continues where the first stopped)."""
    out = dict(polled)
    for tp, records in more.items():
        out[tp] = [*out[tp], *records] if tp in out else records
    return out


COMMIT_TIMEOUT_MS = 30_000
"""A synchronous commit (shutdown, ``commit_async: false``) gives up after this."""


def _commit_answered(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):  # the next commit (or the final one) covers it
        logger.warning("asynchronous commit failed (the batch is stored): %s", response)
