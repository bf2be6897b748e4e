"""Where the shim's events go: driftd over HTTP, Kafka, or memory (tests).

A transport is handed one batch of encoded records by the logger's
background thread and says which of them to try again later. It may raise
for a whole-batch outage (the logger then retries the batch with backoff);
nothing it does ever reaches the serving path.

Only the standard library, ``httpx`` and ``orjson`` are imported here;
``kafka-python`` is imported when a :class:`KafkaTransport` is built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import orjson

__all__ = [
    "DeliveryError",
    "HttpTransport",
    "KafkaTransport",
    "MemoryTransport",
    "Record",
    "SendResult",
    "Transport",
]

logger = logging.getLogger(__name__)

EventKind = Literal["predictions", "outcomes"]


class DeliveryError(Exception):
    """A batch could not be handed over (outage). Internal to the shim: never raised to callers.

    It stands outside :mod:`driftd.errors` on purpose: the shim ships on its own
    (``driftd-shim``) and imports nothing from driftd beyond ``driftd.shim``.
    """


@dataclass(frozen=True, slots=True)
class Record:
    """One encoded event: its kind, the model (Kafka key) and the JSON bytes."""

    kind: EventKind
    model: str
    value: bytes


@dataclass(slots=True)
class SendResult:
    """What became of a batch: records to send again, and how many were refused for good."""

    retry: list[Record] = field(default_factory=list)
    rejected: int = 0


class Transport(Protocol):
    """Delivers a batch; returns what to retry. Raise :class:`DeliveryError` on an outage."""

    def send(self, records: Sequence[Record]) -> SendResult: ...

    def close(self) -> None: ...


class MemoryTransport:
    """Keeps every delivered event (decoded) in memory; ``fail`` simulates an outage.

    >>> t = MemoryTransport()
    >>> t.send([Record("outcomes", "m", b'{"model":"m"}')]).retry
    []
    >>> t.events
    [('outcomes', {'model': 'm'})]
    """

    def __init__(self) -> None:
        self.events: list[tuple[EventKind, dict[str, Any]]] = []
        self.fail = False
        self._lock = threading.Lock()

    def send(self, records: Sequence[Record]) -> SendResult:
        if self.fail:
            raise DeliveryError("memory transport set to fail")
        with self._lock:
            self.events.extend((r.kind, orjson.loads(r.value)) for r in records)
        return SendResult()

    def close(self) -> None:
        return None


#: Kafka errors that sending again cannot fix; any other failure is retried.
_PERMANENT = frozenset({
    "MessageSizeTooLargeError", "RecordListTooLargeError", "InvalidRecordError",
    "CorruptRecordError", "InvalidTopicError", "TopicAuthorizationFailedError",
    "ClusterAuthorizationFailedError", "UnsupportedVersionError",
})  # fmt: skip
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpTransport:
    """POSTs NDJSON batches to driftd's ``/v1/events/predictions`` and ``/outcomes``.

    Connection errors, timeouts, 408, 429 and 5xx are outages (retried); any
    other 4xx (e.g. a bad API key, a body over the limit) refuses the batch,
    which is counted as rejected and logged, never retried forever. Events
    driftd itself rejects (its answer lists them) are counted as rejected too.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"content-type": "application/x-ndjson"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self._client = client or httpx.Client(timeout=timeout_s)
        self._headers = headers

    def send(self, records: Sequence[Record]) -> SendResult:
        result = SendResult()
        for kind in ("predictions", "outcomes"):
            batch = [r for r in records if r.kind == kind]
            if batch:
                self._post(kind, batch, result)
        return result

    def _post(self, kind: str, batch: list[Record], result: SendResult) -> None:
        body = b"\n".join(r.value for r in batch)
        try:
            answer = self._client.post(
                f"{self.url}/v1/events/{kind}", content=body, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST /v1/events/{kind}: {type(exc).__name__}") from exc
        if answer.status_code in _RETRY_STATUS:
            result.retry.extend(batch)
            return
        if answer.status_code >= 400:
            logger.warning(
                "driftd refused %d %s with HTTP %d", len(batch), kind, answer.status_code
            )
            result.rejected += len(batch)
            return
        try:
            rejected = answer.json().get("rejected") or []
        except ValueError:
            rejected = []
        if rejected:
            reasons = sorted({str(r.get("reason")) for r in rejected})
            logger.warning("driftd rejected %d %s: %s", len(rejected), kind, reasons)
        result.rejected += len(rejected)

    def close(self) -> None:
        self._client.close()


class KafkaTransport:
    """Produces to driftd's topics, keyed by model (one model, one partition).

    Compressed (``gzip`` by default: no native library needed), batched by
    ``linger_ms``/``batch_size``, ``acks`` configurable. The producer is made
    lazily, so a broker that is down at start-up is an outage like any other.
    ``delivery_timeout_ms`` bounds how long a record waits in the producer;
    records whose delivery failed with a retriable error are handed back to
    the logger (which sends them again after a backoff), others are rejected.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        predictions_topic: str = "driftd.predictions",
        outcomes_topic: str = "driftd.outcomes",
        acks: Literal[0, 1, "all"] = 1,
        compression_type: str | None = "gzip",
        linger_ms: int = 20,
        batch_size: int = 64 * 1024,
        delivery_timeout_ms: int = 10_000,
        max_block_ms: int = 2_000,
        **producer_config: Any,
    ) -> None:
        if acks not in (0, 1, "all"):
            raise ValueError(f"acks must be 0, 1 or 'all', got {acks!r}")
        self.topics = {"predictions": predictions_topic, "outcomes": outcomes_topic}
        self.config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": acks,
            "compression_type": compression_type,
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "delivery_timeout_ms": delivery_timeout_ms,
            "request_timeout_ms": min(delivery_timeout_ms - linger_ms, 5_000),
            "max_block_ms": max_block_ms,
            "client_id": "driftd-shim",
            **producer_config,
        }
        self._producer: Any = None

    def _get_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer  # lazy: only this transport needs kafka-python

            try:
                self._producer = KafkaProducer(**self.config)
            except Exception as exc:  # NoBrokersAvailable and friends: an outage
                raise DeliveryError(f"no Kafka producer: {type(exc).__name__}") from exc
        return self._producer

    def send(self, records: Sequence[Record]) -> SendResult:
        producer = self._get_producer()
        result = SendResult()
        sent: list[tuple[Record, Any]] = []
        for index, record in enumerate(records):
            try:
                future = producer.send(
                    self.topics[record.kind], value=record.value, key=record.model.encode()
                )
            except Exception as exc:  # metadata not available within max_block_ms
                logger.debug("Kafka send refused: %s", exc)
                result.retry.extend(records[index:])
                break
            sent.append((record, future))
        try:  # delivery_timeout_ms expires what the broker never took: futures resolve
            producer.flush(timeout=self.config["delivery_timeout_ms"] / 1000 + 5)
        except Exception as exc:
            logger.debug("Kafka flush: %s", exc)
        for record, future in sent:
            if future.succeeded():
                continue
            error = future.exception if future.is_done else None
            if error is None:  # still unresolved: send again rather than lose it
                result.retry.append(record)
                continue
            if type(error).__name__ not in _PERMANENT:
                result.retry.append(record)
            else:
                logger.warning("Kafka refused a %s event: %s", record.kind, error)
                result.rejected += 1
        return result

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            finally:
                self._producer = None
