"""Dead letters published with confluent-kafka (librdkafka): ``kafka.client: confluent``.

The same contract as :class:`~driftd.collector.deadletter.KafkaDeadLetters`:
``publish`` returns only once the broker acknowledged every letter (``acks=all``),
raises :class:`~driftd.errors.StorageDataError` when Kafka refuses a letter for
what it is (too large, invalid: the pipeline publishes it again without its
payload) and :class:`~driftd.errors.SourceError` otherwise (the batch is
retried, its offsets stay uncommitted). One ``flush`` per batch; each letter's
delivery callback says whether it was acknowledged, so the answer is exact.

librdkafka produces a message in a few microseconds where kafka-python's
``send`` takes tens (``bench/README.md``, issue 12), which is what a stream
with many rejected events pays per rejection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from driftd.collector.confluent_source import librdkafka_logger, security_config
from driftd.collector.deadletter import (
    KafkaDeadLetters,
    dead_letter_headers,
    dead_letter_key,
    dead_letter_value,
)
from driftd.collector.messages import DeadLetter
from driftd.config import KafkaSettings
from driftd.errors import SourceError, StorageDataError

__all__ = ["ConfluentDeadLetters", "producer_config"]

logger = logging.getLogger(__name__)

# Refusals of the record itself (retrying cannot help), as kafka-python's
# MessageSizeTooLargeError, RecordListTooLargeError and InvalidRecordError.
_REFUSED = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_MSG_SIZE,
})  # fmt: skip


def producer_config(settings: KafkaSettings, timeout_s: float) -> dict[str, Any]:
    """The dead-letter producer's librdkafka properties: every in-sync replica
    acknowledges (``acks=all``), and a letter not delivered within ``timeout_s``
    is reported failed rather than kept queued.

    >>> from driftd.config.settings import KafkaSettings
    >>> c = producer_config(KafkaSettings(), 30.0)
    >>> c["acks"], c["message.timeout.ms"]
    ('all', 30000)
    """
    return {
        "bootstrap.servers": ",".join(settings.bootstrap_servers),
        "client.id": f"{settings.client_id}-deadletters",
        "acks": "all",
        "retries": 5,
        "linger.ms": 5,
        "message.timeout.ms": int(timeout_s * 1000),
        **security_config(settings),
    }


class ConfluentDeadLetters(KafkaDeadLetters):
    """Produces dead letters with a confluent-kafka ``Producer``; one flush per batch.

    librdkafka queues its log lines and error events for ``poll`` (``logger``,
    ``error_cb``): a sink made by :meth:`connect` has a thread poll the producer
    between batches, so an idle sink with the broker away neither piles them up nor
    reports them late. Delivery
    callbacks may then run on that thread; ``flush`` still returns only after every
    callback of the batch ran (librdkafka counts a message until its callback is done).
    """

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        super().__init__(producer, topic, timeout_s)
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None

    def serve_in_background(self) -> None:
        """Poll the producer from a daemon thread until :meth:`close`."""
        self._poller = threading.Thread(
            target=self._serve, name="driftd-deadletter-poll", daemon=True
        )
        self._poller.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            self.producer.poll(0.5)

    @classmethod
    def connect(
        cls, settings: KafkaSettings, topic: str, timeout_s: float = 30.0
    ) -> ConfluentDeadLetters:
        config = {
            **producer_config(settings, timeout_s),
            "error_cb": _client_error,
            "logger": librdkafka_logger,
        }
        try:
            sink = cls(Producer(config), topic, timeout_s)
        except KafkaException as exc:
            raise SourceError(f"cannot create the dead-letter producer: {exc}") from exc
        sink.serve_in_background()
        return sink

    def _deliver(self, letters: Sequence[DeadLetter]) -> list[tuple[int, str]]:
        what = self.what
        refused: list[tuple[int, str]] = []
        errors: list[Any] = []
        acked: list[None] = []  # appended to, possibly from the poller thread

        def callback(index: int) -> Any:
            def delivered(err: Any, _msg: Any) -> None:
                if err is None:
                    acked.append(None)
                elif isinstance(err, KafkaError) and err.code() in _REFUSED:
                    refused.append((index, str(err)))
                else:
                    errors.append(err)

            return delivered

        produce, topic = self.producer.produce, self.topic
        for index, letter in enumerate(letters):
            value, key = dead_letter_value(letter), dead_letter_key(letter)
            headers = dead_letter_headers(letter)
            delivered = callback(index)
            try:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=delivered)
                except BufferError:  # the local queue is full: let it drain, once
                    self.producer.poll(1.0)
                    produce(topic, value, key, headers=headers, on_delivery=delivered)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else exc
                if isinstance(err, KafkaError) and err.code() in _REFUSED:
                    refused.append((index, str(err)))  # refused locally, before any batch
                    continue
                _raise(what, err)
            except BufferError as exc:
                raise SourceError(f"{what}: the producer's queue stays full") from exc
        self.producer.flush(self.timeout_s)
        if errors:
            _raise(what, errors[0])
        if len(acked) + len(refused) != len(letters):
            raise SourceError(
                f"{what} was not acknowledged by Kafka: "
                f"{len(letters) - len(acked) - len(refused)} of "
                f"{len(letters)} dead letters unanswered after {self.timeout_s} s"
            )
        return sorted(refused)

    def close(self, timeout: float = 10.0) -> None:
        self._closed.set()
        if self._poller is not None:
            self._poller.join(timeout)
        self.producer.flush(timeout)


def _raise(what: str, err: Any) -> None:
    if isinstance(err, KafkaError) and err.code() in _REFUSED:
        raise StorageDataError(f"{what} refused by Kafka: {err}")
    raise SourceError(f"{what} was not acknowledged by Kafka: {err}")


def _client_error(err: Any) -> None:
    # librdkafka retries connections itself; a letter it cannot deliver fails its callback
    logger.warning("Kafka dead-letter producer: %s", err)
