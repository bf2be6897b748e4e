"""The Kafka source on confluent-kafka (librdkafka): ``kafka.client: confluent``.

Same interface and semantics as :class:`~driftd.collector.kafka_source.KafkaSource`
(shared in :mod:`driftd.collector.consumer`): auto-commit and the automatic
offset store are off, ``auto.offset.reset`` is explicit, offsets are committed
after the batch is stored, and the rebalance callbacks resolve stored
high-water marks and make the monitor forget revoked partitions. On revoke the
offsets committed asynchronously are committed again synchronously before the
partitions move.

librdkafka's defaults work against Kafka-protocol brokers that answer
ApiVersions (Kafka ≥ 0.10, Tansu): no ``api.version.request`` or
``broker.version.fallback`` is set. It refuses ``max.poll.interval.ms`` below
``session.timeout.ms``, so the larger of the two is used.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from driftd.collector.consumer import ConsumerSource, Partition
from driftd.collector.fastpath import cycle_collector_paused
from driftd.collector.messages import Message, coordinates
from driftd.config import KafkaSettings
from driftd.errors import SourceError

__all__ = ["ConfluentSource", "confluent_config"]

logger = logging.getLogger(__name__)
librdkafka_logger = logging.getLogger("driftd.collector.librdkafka")

# Commit errors that mean "the group moved on": the batch is stored, and the
# partition's next owner skips it through the stored high-water mark.
_REBALANCED = frozenset({
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._ASSIGNMENT_LOST,
})  # fmt: skip


def security_config(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka's TLS and SASL properties from the settings (none for PLAINTEXT).

    >>> from driftd.config.settings import KafkaSettings
    >>> security_config(KafkaSettings())
    {}
    >>> sorted(security_config(KafkaSettings(security_protocol="SSL", ssl_cafile="/ca.pem")))
    ['security.protocol', 'ssl.ca.location', 'ssl.endpoint.identification.algorithm']
    """
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol}
    if protocol.endswith("SSL"):
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.ssl_check_hostname else "none"
        )
        for name, key in (
            ("ssl_cafile", "ssl.ca.location"),
            ("ssl_certfile", "ssl.certificate.location"),
            ("ssl_keyfile", "ssl.key.location"),
        ):
            if value := getattr(settings, name):
                config[key] = value
    if protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # checked by the settings
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = settings.sasl_password.get_secret_value()
    return config


def confluent_config(settings: KafkaSettings) -> dict[str, Any]:
    """The consumer's librdkafka properties (callbacks added by the source).

    >>> from driftd.config.settings import KafkaSettings
    >>> c = confluent_config(KafkaSettings(session_timeout_ms=6000, max_poll_interval_ms=5000))
    >>> c["enable.auto.commit"], c["enable.auto.offset.store"], c["max.poll.interval.ms"]
    (False, False, 6000)
    """
    s = settings
    return {
        "bootstrap.servers": ",".join(s.bootstrap_servers),
        "client.id": s.client_id,
        "group.id": s.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": s.auto_offset_reset,
        "session.timeout.ms": s.session_timeout_ms,
        "heartbeat.interval.ms": s.heartbeat_interval_ms,
        "max.poll.interval.ms": max(s.max_poll_interval_ms, s.session_timeout_ms),
        "fetch.min.bytes": s.fetch_min_bytes,
        "fetch.wait.max.ms": s.fetch_max_wait_ms,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        **security_config(s),
    }


class ConfluentSource(ConsumerSource):
    """Polls batches of :class:`Message` and commits them once they are stored (librdkafka)."""

    _consumer: Any = None
    _closing = False

    def start(self) -> None:
        config = {
            **confluent_config(self.settings),
            "on_commit": self._commit_answered,
            "error_cb": self._client_error,
            "logger": librdkafka_logger,
        }
        try:
            self._consumer = Consumer(config)
            self._consumer.subscribe(
                list(self._kinds),
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        except KafkaException as exc:
            raise SourceError(
                f"cannot connect to Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc

    # rebalance callbacks: librdkafka runs them inside consume(), on this thread
    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._assigned([(tp.topic, tp.partition) for tp in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        if self._closing:  # shutting down: the windows are checkpointed, not forgotten
            return
        self._commit_unconfirmed(revoked)
        self._revoked(revoked)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # another member may own them already: no commit, only forget
        lost = [(tp.topic, tp.partition) for tp in partitions]
        for tp in lost:
            self._unconfirmed.pop(tp, None)
        if not self._closing:
            self._revoked(lost)

    def _commit_answered(self, err: Any, partitions: list[TopicPartition]) -> None:
        if err is not None:  # the next commit (or the final one) covers it
            logger.warning("asynchronous commit failed (the batch is stored): %s", err)

    def _client_error(self, err: Any) -> None:
        # librdkafka retries connections itself; /readyz reports an unreachable broker
        logger.warning("Kafka client: %s", err)

    def _fetch(self) -> Any:
        s = self.settings
        try:
            return self._consumer.consume(s.max_poll_records, s.poll_timeout_ms / 1000)
        except KafkaException as exc:
            raise SourceError(f"poll failed: {exc}") from exc

    def poll(self) -> list[Message]:
        """One batch (possibly empty): up to ``max_poll_records``, within ``poll_timeout_ms``."""
        before = self._positions() if self.metrics is not None else {}
        records = self._polled(self._fetch)
        now_ms = int(time.time() * 1000)
        kinds = self._kinds
        stored = self._stored
        out: list[Message] = []
        append = out.append
        last: dict[Partition, int] = {}  # a partition's records come in offset order
        with cycle_collector_paused():
            for r in records:
                if r.error() is not None:
                    self._record_error(r.error())
                    continue
                topic = r.topic()
                partition = r.partition()
                offset = r.offset()
                value = r.value()
                last[topic, partition] = offset
                source = coordinates(topic, partition, offset)
                append(
                    Message(
                        kinds[topic],
                        value if value is not None else b"",
                        source,
                        now_ms,
                        offset <= stored.get((topic, partition), -1),
                    )
                )
        if self.metrics is not None:
            # the batch's first offsets: the positions before it, read from the batch only
            # for a partition that had none (its first batch since it was assigned)
            assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            if not assigned <= before.keys():
                for msg in out:
                    src = msg.source
                    assert src is not None
                    before.setdefault((src.topic, src.partition), src.offset)
            self._record_lag(before)
        self._polled_batch(out, {tp: offset + 1 for tp, offset in last.items()})
        return out

    def _positions(self) -> dict[Partition, int]:
        """Per assigned partition that has consumed: the next offset to consume."""
        assigned = self._consumer.assignment()
        if not assigned:
            return {}
        try:
            positions = self._consumer.position(assigned)
        except KafkaException:
            return {}
        return {(tp.topic, tp.partition): tp.offset for tp in positions if tp.offset >= 0}

    def _record_error(self, err: Any) -> None:
        if err.fatal():
            raise SourceError(f"Kafka consumer failed: {err}")
        logger.warning("Kafka consumer: %s", err)

    def _record_lag(self, in_hand: dict[Partition, int]) -> None:
        """Per assigned partition: the high watermark (from the last fetch) minus the first
        offset not yet done (``in_hand``: the first of the batch being handed out)."""
        assigned = self._consumer.assignment()
        if not assigned:
            return
        try:
            positions = self._consumer.position(assigned)
        except KafkaException:
            return
        for tp in positions:
            if tp.offset < 0:  # nothing consumed yet
                continue
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high is None or high < 0:  # no fetch answered for it yet
                continue
            first = in_hand.get((tp.topic, tp.partition), tp.offset)
            self._set_lag(tp.topic, tp.partition, high, min(tp.offset, first))

    def _commit(self, offsets: dict[Partition, int], *, asynchronous: bool) -> None:
        partitions = [TopicPartition(topic, p, offset) for (topic, p), offset in offsets.items()]
        try:
            answered = self._consumer.commit(offsets=partitions, asynchronous=asynchronous)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() in _REBALANCED:
                logger.warning("commit failed after a rebalance (batch is stored): %s", err)
                return
            raise SourceError(f"commit failed: {exc}") from exc
        refused = [tp for tp in answered or () if tp.error is not None]
        if refused:  # per partition (a synchronous commit answers for each)
            raise SourceError(f"commit failed for {len(refused)} partition(s): {refused[0].error}")

    def close(self) -> None:
        if self._consumer is not None:
            self._commit_unconfirmed()
            self._closing = True
            self._consumer.close()
            self._consumer = None
