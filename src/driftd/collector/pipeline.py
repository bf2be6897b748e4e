"""The one pipeline every entry shares: decode → scrub → validate → store → detect.

Kafka batches and HTTP requests both end here. A batch is processed in this
order, each storage step retried with backoff until it succeeds or the daemon
stops (an unfinished batch is simply not committed, and arrives again):

1. decode, scrub, validate each message (scrubbing comes right after decoding,
   so validation messages and dead letters only ever see scrubbed data);
2. publish dead letters and wait until they are durable;
3. insert predictions and outcomes, one insert each, with a deduplication
   token built from the Kafka coordinates (a retried insert is a no-op);
4. feed the predictions to the drift monitor (:mod:`driftd.monitoring`), which
   publishes the results of every window that closed to its sinks and
   checkpoints its state.

The caller commits Kafka offsets only after :meth:`Pipeline.process` returns.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from driftd.collector.deadletter import DeadLetterSink
from driftd.collector.messages import BatchResult, Message
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.errors import DriftdError
from driftd.events import DEFAULT_LIMITS, EventLimits, OutcomeRecord, PredictionRecord
from driftd.metrics import Metrics
from driftd.monitoring.monitor import DriftMonitor
from driftd.storage.base import EventStoreProtocol

__all__ = ["Pipeline", "Retry"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Retry:
    """Exponential backoff for storage steps; gives up only when ``stopping`` is set."""

    def __init__(
        self,
        initial_s: float = 0.2,
        max_s: float = 30.0,
        stopping: threading.Event | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.stopping = stopping if stopping is not None else threading.Event()
        self.on_retry = on_retry

    def __call__(self, step: str, fn: Callable[[], T]) -> T:
        delay = self.initial_s
        while True:
            try:
                return fn()
            except DriftdError as exc:
                if self.stopping.is_set():
                    raise
                logger.warning("%s failed, retrying in %.1fs: %s", step, delay, exc)
                if self.on_retry is not None:
                    self.on_retry()
                if self.stopping.wait(delay):
                    raise
                delay = min(delay * 2, self.max_s)


class Pipeline:
    """Turns raw messages into stored rows, dead letters and drift metrics."""

    def __init__(
        self,
        *,
        store: EventStoreProtocol,
        monitor: DriftMonitor,
        scrubber: Scrubber,
        dead_letters: DeadLetterSink,
        metrics: Metrics,
        limits: EventLimits = DEFAULT_LIMITS,
        retry: Retry | None = None,
    ) -> None:
        self.store = store
        self.monitor = monitor
        self.scrubber = scrubber
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.limits = limits
        self.retry = retry if retry is not None else Retry()
        if self.retry.on_retry is None:
            self.retry.on_retry = metrics.storage_retries.inc
        self.validator = Validator(scrubber, monitor.known_model, metrics, limits)
        self._lock = threading.Lock()

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Process one batch; returns once everything in it is durable."""
        with self._lock, self.metrics.batch_duration.time():
            validated = self.validator.run(messages)
            result, to_store_p, to_store_o = (
                validated.result,
                validated.to_store_p,
                validated.to_store_o,
            )
            if result.dead_letters:
                self.retry("dead letters", lambda: self.dead_letters.publish(result.dead_letters))
            if to_store_p:
                token = _dedup_token("predictions", to_store_p)
                self.retry(
                    "store predictions", lambda: self.store.insert_predictions(to_store_p, token)
                )
                self.metrics.events_stored.labels(kind="predictions").inc(len(to_store_p))
            if to_store_o:
                token = _dedup_token("outcomes", to_store_o)
                self.retry("store outcomes", lambda: self.store.insert_outcomes(to_store_o, token))
                self.metrics.events_stored.labels(kind="outcomes").inc(len(to_store_o))
            result.stored = len(to_store_p) + len(to_store_o)
            if result.predictions:
                result.windows_closed = self._detect(result.predictions)
            return result

    def _detect(self, predictions: list[PredictionRecord]) -> int:
        return self.monitor.process(predictions, self.retry)


def _digest(parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _dedup_token(kind: str, records: Sequence[PredictionRecord | OutcomeRecord]) -> str | None:
    """Same Kafka coordinates → same token, so a retried insert is dropped by ClickHouse.

    HTTP batches carry no coordinates and get no token (their retries are the
    client's, identified by ``event_id``).
    """
    ranges: dict[tuple[str, int], list[int]] = {}
    for rec in records:
        src = rec.source
        if src is None:
            return None
        span = ranges.get((src.topic, src.partition))
        if span is None:
            ranges[(src.topic, src.partition)] = [src.offset, src.offset]
        else:
            span[0] = min(span[0], src.offset)
            span[1] = max(span[1], src.offset)
    return f"{kind}:" + _digest(f"{t}/{p}/{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))
