"""The one pipeline every entry shares: decode → scrub → validate → store → detect.

Kafka batches and HTTP requests both end here. A batch is processed in this
order; a storage failure is classified before anything is retried (see
:mod:`driftd.storage.faults`): an outage is retried with backoff and jitter
until it succeeds or the daemon stops (an unfinished batch is simply not
committed, and arrives again); a failure the data caused is never retried:

1. decode, scrub, validate each message (scrubbing comes right after decoding,
   so validation messages and dead letters only ever see scrubbed data);
2. publish dead letters and wait until they are durable (at most
   ``max_dead_letters_per_request`` per HTTP request, the rest summarised);
3. insert predictions and outcomes, one insert each, with a deduplication
   token built from the Kafka coordinates (a retried insert is a no-op). If
   storage refuses the data, the batch is split in halves, recursively, until
   the refused events are found; they are dead-lettered (reason
   ``unstorable``) and the rest is stored, in order, so every offset below the
   highest stored one is stored or dead-lettered. An event whose client-chosen
   ``event_id`` this process stored recently is a retry: not stored again;
4. feed the predictions to the drift monitor (:mod:`driftd.monitoring`), which
   publishes the results of every window that closed to its sinks and
   checkpoints its state; hand the stored outcomes to the performance monitor
   (their errors feed its stream detector; windows are recomputed by its ticker).

The caller commits Kafka offsets only after :meth:`Pipeline.process` returns.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from driftd.collector.deadletter import DeadLetterSink, summarise
from driftd.collector.messages import BatchResult, DeadLetter, Kind, Message
from driftd.collector.progress import Progress
from driftd.collector.recent import RecentIds
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validated, Validator
from driftd.errors import (
    DriftdError,
    StorageDataError,
    StorageError,
    StorageUnavailableError,
)
from driftd.events import DEFAULT_LIMITS, EventLimits, OutcomeRecord, PredictionRecord
from driftd.metrics import Metrics
from driftd.monitoring.monitor import DriftMonitor
from driftd.monitoring.performance import PerformanceMonitor
from driftd.storage.base import EventStoreProtocol
from driftd.storage.faults import outage_condition

__all__ = ["Pipeline", "Retry"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Retry:
    """Exponential backoff with jitter for outages; gives up only when ``stopping`` is set.

    A :class:`~driftd.errors.StorageDataError` is never retried: it is raised at
    once, for the caller to isolate the data responsible. A storage failure of
    unknown cause is settled by ``probe`` (e.g. a ping) when the step has one:
    if storage does not answer, it is an outage; if it answers and the step
    fails again on its next attempt, the data is to blame.
    """

    def __init__(
        self,
        initial_s: float = 0.2,
        max_s: float = 30.0,
        stopping: threading.Event | None = None,
        on_retry: Callable[[], None] | None = None,
        progress: Progress | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.stopping = stopping if stopping is not None else threading.Event()
        self.on_retry = on_retry
        self.progress = progress if progress is not None else Progress()
        self.jitter = jitter

    def __call__(
        self, step: str, fn: Callable[[], T], probe: Callable[[], None] | None = None
    ) -> T:
        delay = self.initial_s
        unexplained = False
        while True:
            try:
                result = fn()
            except StorageDataError:
                raise
            except DriftdError as exc:
                condition = self._outage(exc, probe)
                if condition is None:
                    if unexplained:  # the same step failed twice while storage answers
                        raise StorageDataError(f"{step}: {exc}") from exc
                    unexplained = True  # once could be a hiccup: try again first
                    condition = "unexplained"
                self.progress.failed(condition, str(exc))
                if self.stopping.is_set():
                    raise
                wait = delay * (0.5 + self.jitter() / 2)  # jitter: retries do not march in step
                logger.warning("%s failed (%s), retrying in %.1fs: %s", step, condition, wait, exc)
                if self.on_retry is not None:
                    self.on_retry()
                if self.stopping.wait(wait):
                    raise
                delay = min(delay * 2, self.max_s)
            else:
                self.progress.progressed()
                return result

    @staticmethod
    def _outage(exc: DriftdError, probe: Callable[[], None] | None) -> str | None:
        """The outage's condition, or ``None`` when the data is to blame."""
        if isinstance(exc, StorageUnavailableError):
            return exc.condition
        if not isinstance(exc, StorageError) or probe is None:
            return "unavailable"  # Kafka, or a step with nothing to ask: retry
        named = outage_condition(exc)
        if named is not None:
            return named
        try:
            probe()
        except StorageUnavailableError as down:
            return down.condition
        except DriftdError:
            return "unavailable"
        return None


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
        recent_ids: int = 100_000,
        performance: PerformanceMonitor | None = None,
    ) -> None:
        self.store = store
        self.monitor = monitor
        self.performance = performance
        self.scrubber = scrubber
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.limits = limits
        self.retry = retry if retry is not None else Retry()
        if self.retry.on_retry is None:
            self.retry.on_retry = metrics.storage_retries.inc
        self.validator = Validator(scrubber, monitor.known_model, metrics, limits)
        self.recent = RecentIds(recent_ids)
        self._lock = threading.Lock()

    @property
    def progress(self) -> Progress:
        """Progress and storage failures, as ``/readyz`` reports them."""
        return self.retry.progress

    def process(self, messages: Sequence[Message]) -> BatchResult:
        """Process one batch; returns once everything in it is durable."""
        with self._lock, self.metrics.batch_duration.time():
            self.progress.begin()
            try:
                return self._process(messages)
            finally:
                self.progress.end()

    def _process(self, messages: Sequence[Message]) -> BatchResult:
        validated = self.validator.run(messages)
        result = validated.result
        publish_dead_letters(
            self.retry,
            self.dead_letters,
            result.dead_letters,
            self.limits.max_dead_letters_per_request,
        )
        refused: set[int] = set()  # dead-lettered at storage, or a client's repeat
        for kind, records in (
            ("predictions", validated.to_store_p),
            ("outcomes", validated.to_store_o),
        ):
            fresh = self._fresh(kind, records, refused)  # type: ignore[arg-type]
            result.repeated += len(records) - len(fresh)
            if fresh:
                stored = self._store(kind, fresh, validated, refused)  # type: ignore[arg-type]
                self.metrics.events_stored.labels(kind=kind).inc(stored)
                result.stored += stored
        if refused:  # neither stored (again) nor judged (again)
            result.predictions = [r for r in result.predictions if id(r) not in refused]
            result.outcomes = [r for r in result.outcomes if id(r) not in refused]
        if result.predictions:
            result.windows_closed = _judged("drift", lambda: self._detect(result.predictions))
        if result.outcomes and self.performance is not None:
            performance, outcomes = self.performance, result.outcomes
            _judged("performance", lambda: performance.observe_outcomes(outcomes, self.retry))
        return result

    def _fresh(
        self,
        kind: Kind,
        records: Sequence[PredictionRecord] | Sequence[OutcomeRecord],
        repeated: set[int],
    ) -> list[Any]:
        """``records`` without a client's repeats: an ``event_id`` it chose that this
        process stored recently, or that appeared earlier in the same batch."""
        fresh: list[Any] = []
        in_batch: set[tuple[str, str]] = set()
        for rec in records:
            if not _chosen(rec):
                fresh.append(rec)  # no id of the client's: nothing to recognise it by
                continue
            key = (rec.model, rec.event_id)
            if key in in_batch or self.recent.seen(kind, rec.model, rec.event_id):
                repeated.add(id(rec))
                continue
            in_batch.add(key)
            fresh.append(rec)
        return fresh

    def _store(
        self,
        kind: Kind,
        records: Sequence[PredictionRecord] | Sequence[OutcomeRecord],
        validated: Validated,
        refused: set[int],
    ) -> int:
        """Insert ``records``; on data the store refuses, bisect to find and dead-letter
        the refused events and store the rest. Returns how many were stored."""
        insert: Callable[[Any, str | None], None] = (
            self.store.insert_predictions if kind == "predictions" else self.store.insert_outcomes
        )
        stored = 0

        def attempt(part: Sequence[Any]) -> None:
            nonlocal stored
            token = _dedup_token(kind, part)
            try:
                self.retry(f"store {kind}", lambda: insert(part, token), probe=self.store.ping)
                stored += len(part)
                self.recent.add(kind, ((r.model, r.event_id) for r in part if _chosen(r)))
                return
            except StorageDataError as exc:
                if len(part) > 1:
                    mid = len(part) // 2
                    attempt(part[:mid])
                    attempt(part[mid:])
                    return
                letter = self._refused(kind, part[0], validated, _cause(exc))
            refused.add(id(part[0]))
            validated.result.dead_letters.append(letter)
            self.metrics.dead_letters.labels(kind=kind, reason=letter.reason).inc()
            publish_dead_letters(self.retry, self.dead_letters, [letter], 1)
            logger.warning("storage refused one %s event (%s); dead-lettered", kind, letter.detail)

        attempt(records)
        return stored

    @staticmethod
    def _refused(
        kind: Kind, record: PredictionRecord | OutcomeRecord, validated: Validated, why: str
    ) -> DeadLetter:
        msg, index, obj = validated.origin[id(record)]
        detail = f"storage refused the event ({why})"
        return DeadLetter(kind, "unstorable", detail, obj, msg.source, index, msg.request)

    def _detect(self, predictions: list[PredictionRecord]) -> int:
        return self.monitor.process(predictions, self.retry)


def _judged(what: str, judge: Callable[[], int]) -> int:
    """Judge stored events; a failure no retry can fix must not fail the batch.

    The events are stored by now: a result refused for its data, or an
    unexpected error while judging, is logged and the batch goes on (an outage
    is retried inside, and raised only when the daemon stops).
    """
    try:
        return judge()
    except StorageDataError as exc:
        logger.error("%s results refused for their data (%s); events stored", what, _cause(exc))
    except DriftdError:
        raise
    except Exception:
        logger.exception("%s: judging a batch failed; its events are stored, not judged", what)
    return 0


def _cause(exc: BaseException) -> str:
    """The type of what caused ``exc``: data errors are logged by kind, never by content."""
    return type(exc.__cause__ or exc).__name__


def _chosen(record: PredictionRecord | OutcomeRecord) -> bool:
    """True when the event carries an id its sender chose (not Kafka coordinates)."""
    event_id, source = record.event_id, record.source
    return bool(event_id) and (source is None or event_id != source.event_id())


def publish_dead_letters(
    retry: Retry, sink: DeadLetterSink, letters: Sequence[DeadLetter], cap: int
) -> None:
    """Publish ``letters`` (capped per HTTP request) until durable; never fails on data.

    If the sink refuses them as data, they are published again without their
    payloads (the reason and source stay); if even that is refused, they are
    logged and counted, and the batch goes on.
    """
    if not letters:
        return
    letters = summarise(letters, cap)
    try:
        retry("dead letters", lambda: sink.publish(letters))
        return
    except StorageDataError as exc:
        logger.warning("dead-letter sink refused %d payloads (%s)", len(letters), _cause(exc))
    bare = [replace(letter, payload=None) for letter in letters]
    try:
        retry("dead letters without payloads", lambda: sink.publish(bare))
    except StorageDataError:
        logger.error("dead-letter sink refused %d dead letters; dropped", len(letters))


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
