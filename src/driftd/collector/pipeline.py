"""The one pipeline every entry shares: decode → scrub → validate → store → detect.

Kafka batches and HTTP requests both end here. A batch is processed in this
order; a storage failure is classified before anything is retried (see
:mod:`driftd.storage.faults`): an outage is retried with backoff and jitter
until it succeeds or the daemon stops (an unfinished batch is simply not
committed, and arrives again); a failure the data caused is never retried:

1. decode, scrub, validate each message (scrubbing comes right after decoding,
   so validation messages and dead letters only ever see scrubbed data);
2. publish dead letters and wait until they are durable (at most
   ``max_dead_letters_per_request`` per HTTP request, the rest summarised; not
   those of a redelivered message marked ``stored``: see
   :func:`~driftd.collector.messages.not_sent_before`);
3. insert predictions and outcomes (one insert each; outcomes two, the join
   table's first: see :meth:`~driftd.storage.EventStore.insert_outcomes`), with
   a deduplication token built from the Kafka coordinates (a retried insert is
   a no-op). If
   storage refuses the data, the batch is split in halves, recursively, until
   the refused events are found; they are dead-lettered (reason
   ``unstorable``) and the rest is stored, in order, so every offset below the
   highest stored one is stored or dead-lettered. An event whose client-chosen
   ``event_id`` this process stored recently is a retry: not stored again;
4. feed the predictions to the drift monitor (:mod:`driftd.monitoring`), which
   publishes the results of every window that closed to its sinks and
   checkpoints its state; hand the stored outcomes to the performance monitor
   (their errors feed its stream detector; windows are recomputed by its ticker).

Predictions travel as columns from validation on (the validator's
:class:`~driftd.batch.PredictionBatch`: ``store_batch`` is stored, ``batch``
judged): repeats, the deduplication token, bisection and the rows left out of
judging are found per column; a refused row is named by its message position
(``index``), and its dead letter's payload is that one message decoded and
scrubbed again, exactly as the validator did. Outcomes (few) stay records.

The caller commits Kafka offsets only after :meth:`Pipeline.process` returns.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftd.batch import PredictionBatch, factorize
from driftd.collector import gc_pause
from driftd.collector.deadletter import DeadLetterSink, LettersRefusedError, summarise
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
from driftd.monitoring.windows import RetryStep
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
                if gc_pause.wait(self.stopping, wait):
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
        self.validator = Validator(
            scrubber, monitor.known_model, metrics, limits, keep_records=False
        )
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
            validated.letters,
            self.limits.max_dead_letters_per_request,
        )
        # predictions: columns; the message positions of those refused or repeated
        store = validated.store_batch
        chosen = chosen_ids(store)
        fresh = self._fresh_rows(store, chosen)
        result.repeated += len(store) - int(fresh.sum())
        dropped = set(store.index[~fresh].tolist())
        if fresh.any():
            whole = bool(fresh.all())
            part = store if whole else store.take(fresh)
            part_chosen = chosen if whole else chosen[fresh]
            stored = self._store_batch(part, part_chosen, messages, validated, dropped)
            self.metrics.events_stored.labels(kind="predictions").inc(stored)
            result.stored += stored
        # outcomes (few): records
        refused: set[int] = set()  # dead-lettered at storage, or a client's repeat
        records = validated.to_store_o
        fresh_o = self._fresh("outcomes", records, refused)
        result.repeated += len(records) - len(fresh_o)
        if fresh_o:
            stored = self._store("outcomes", fresh_o, validated, refused)
            self.metrics.events_stored.labels(kind="outcomes").inc(stored)
            result.stored += stored
        if refused:  # neither stored (again) nor judged (again)
            result.outcomes = [r for r in result.outcomes if id(r) not in refused]
        judged = validated.batch
        if dropped:
            keep = ~np.isin(judged.index, np.fromiter(dropped, np.int64, len(dropped)))
            judged = judged.take(keep)
        result.batch = judged
        if len(judged):
            monitor, retry = self.monitor, self.retry
            result.windows_closed = _judged("drift", lambda: monitor.process(judged, retry))
        if result.outcomes and self.performance is not None:
            performance, outcomes = self.performance, result.outcomes
            _judged("performance", lambda: performance.observe_outcomes(outcomes, self.retry))
        return result

    # --- predictions, as columns ----------------------------------------------------

    def _fresh_rows(
        self, batch: PredictionBatch, chosen_mask: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Which rows are not a client's repeat: an ``event_id`` it chose (``chosen_mask``,
        :func:`chosen_ids` of ``batch``) that this process stored recently, or that
        appeared earlier in the same batch."""
        fresh = np.ones(len(batch), dtype=np.bool_)
        chosen = np.flatnonzero(chosen_mask)
        if chosen.size == 0:
            return fresh
        models, ids = batch.model[chosen], batch.event_id[chosen]
        id_list = ids.tolist()
        if len(set(id_list)) == len(id_list):  # the usual batch: no id twice, so no pair
            again = np.zeros(chosen.size, dtype=np.bool_)
        else:
            model_codes, _ = factorize(models)
            id_codes, id_names = pd.factorize(ids)
            _, first = np.unique(model_codes * len(id_names) + id_codes, return_index=True)
            again = np.ones(chosen.size, dtype=np.bool_)
            again[first] = False  # an earlier row of the batch had the same (model, event_id)
        again |= self.recent.seen_many("predictions", models.tolist(), id_list)
        fresh[chosen[again]] = False
        return fresh

    def _store_batch(
        self,
        batch: PredictionBatch,
        chosen: npt.NDArray[np.bool_],
        messages: Sequence[Message],
        validated: Validated,
        refused: set[int],
    ) -> int:
        """Insert ``batch`` (``chosen``: :func:`chosen_ids` of it); on data the store
        refuses, bisect to find and dead-letter the refused rows (``refused`` gets their
        message positions) and store the rest."""
        stored = 0
        insert = self.store.insert_predictions
        # halves to try, the left one on top: the order of a recursive bisection (no
        # recursive closure: its reference cycle would keep the batch alive until the
        # cycle collector walks it)
        parts = [(batch, chosen)]
        while parts:
            part, mine = parts.pop()
            token = batch_dedup_token("predictions", part)
            try:
                self.retry("store predictions", partial(insert, part, token), self.store.ping)
                stored += len(part)
                if mine.any():
                    whole = bool(mine.all())
                    models = part.model if whole else part.model[mine]
                    event_ids = part.event_id if whole else part.event_id[mine]
                    self.recent.add_many("predictions", models.tolist(), event_ids.tolist())
                continue
            except StorageDataError as exc:
                if len(part) > 1:
                    mid = len(part) // 2
                    parts.append((part.slice(mid, len(part)), mine[mid:]))
                    parts.append((part.slice(0, mid), mine[:mid]))
                    continue
                index = int(part.index[0])
                letter = self._unstorable(messages[index], index, _cause(exc))
            refused.add(index)
            validated.result.dead_letters.append(letter)
            self.metrics.dead_letters.labels(kind="predictions", reason=letter.reason).inc()
            publish_dead_letters(self.retry, self.dead_letters, [letter], 1)
            logger.warning(
                "storage refused one predictions event (%s); dead-lettered", letter.detail
            )
        return stored

    def _dead_letter(self, result: BatchResult, letter: DeadLetter) -> None:
        """Publish the dead letter of one event storage refused."""
        result.dead_letters.append(letter)
        self.metrics.dead_letters.labels(kind=letter.kind, reason=letter.reason).inc()
        publish_dead_letters(self.retry, self.dead_letters, [letter], 1)
        logger.warning(
            "storage refused one %s event (%s); dead-lettered", letter.kind, letter.detail
        )

    def _unstorable(self, msg: Message, index: int, why: str) -> DeadLetter:
        """The dead letter of a message storage refused, its payload scrubbed exactly as
        the validator scrubbed it (decode → scrub, for this one message)."""
        detail = f"storage refused the event ({why})"
        return DeadLetter(
            msg.kind, "unstorable", detail, self._scrubbed(msg), msg.source, index, msg.request
        )

    def _scrubbed(self, msg: Message) -> dict[str, Any] | None:
        try:
            return self.validator.scrubbed_payload(msg)  # as the exact path would scrub it
        except Exception:  # it was valid once: never expected, never worth a lost letter
            logger.exception("re-scrubbing a refused event failed; dead-lettered without payload")
            return None

    # --- outcomes, as records -------------------------------------------------------

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
        parts: list[Sequence[Any]] = [records]  # as in _store_batch: no recursive closure
        while parts:
            part = parts.pop()
            token = _dedup_token(kind, part)
            try:
                self.retry(f"store {kind}", partial(insert, part, token), self.store.ping)
                stored += len(part)
                self.recent.add(kind, ((r.model, r.event_id) for r in part if _chosen(r)))
                continue
            except StorageDataError as exc:
                if len(part) > 1:
                    mid = len(part) // 2
                    parts.append(part[mid:])
                    parts.append(part[:mid])
                    continue
                letter = self._refused(kind, part[0], validated, _cause(exc))
            refused.add(id(part[0]))
            self._dead_letter(validated.result, letter)
        return stored

    @staticmethod
    def _refused(
        kind: Kind, record: PredictionRecord | OutcomeRecord, validated: Validated, why: str
    ) -> DeadLetter:
        msg, index, obj = validated.origin[id(record)]
        detail = f"storage refused the event ({why})"
        return DeadLetter(kind, "unstorable", detail, obj, msg.source, index, msg.request)


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
    retry: RetryStep, sink: DeadLetterSink, letters: Sequence[DeadLetter], cap: int
) -> None:
    """Publish ``letters`` (capped per HTTP request) until durable; never fails on data.

    If the sink refuses them as data, they are published again without their
    payloads (the reason and source stay): only those it names
    (:class:`~driftd.collector.deadletter.LettersRefusedError`, each refused alone),
    else all. If even that is refused, they are logged and counted, and the
    batch goes on.
    """
    if not letters:
        return
    letters = summarise(letters, cap)
    try:
        retry("dead letters", lambda: sink.publish(letters))
        return
    except LettersRefusedError as exc:  # the others of the batch are durable
        refused = exc.letters
        logger.warning("dead-letter sink refused %d payloads (%s)", len(refused), _cause(exc))
    except StorageDataError as exc:
        refused = list(letters)
        logger.warning("dead-letter sink refused %d payloads (%s)", len(refused), _cause(exc))
    bare = [replace(letter, payload=None) for letter in refused]
    try:
        retry("dead letters without payloads", lambda: sink.publish(bare))
    except StorageDataError as exc:
        dropped = exc.letters if isinstance(exc, LettersRefusedError) else bare
        logger.error("dead-letter sink refused %d dead letters; dropped", len(dropped))


def _digest(parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _token(kind: str, ranges: Iterable[tuple[str, int, int, int]]) -> str:
    return f"{kind}:" + _digest(f"{t}/{p}/{lo}-{hi}" for t, p, lo, hi in sorted(ranges))


def batch_dedup_token(kind: str, batch: PredictionBatch) -> str | None:
    """:func:`_dedup_token` of a batch: the same rows give the same token, computed per
    column (min and max offset per topic/partition)."""
    topics = batch.src_topic
    if (topics == None).any():  # noqa: E711 (elementwise)
        return None
    if not len(batch):
        return _token(kind, ())
    codes, names = factorize(topics)
    partitions, offsets = batch.src_partition, batch.src_offset
    keys = codes * (int(partitions.max()) + 1) + partitions
    groups, inverse = np.unique(keys, return_inverse=True)
    lo = np.full(groups.size, np.iinfo(np.int64).max)
    hi = np.full(groups.size, np.iinfo(np.int64).min)
    np.minimum.at(lo, inverse, offsets)
    np.maximum.at(hi, inverse, offsets)
    width = int(partitions.max()) + 1
    return _token(
        kind,
        (
            (str(names[key // width]), key % width, low, high)
            for key, low, high in zip(groups.tolist(), lo.tolist(), hi.tolist(), strict=True)
        ),
    )


def chosen_ids(batch: PredictionBatch) -> npt.NDArray[np.bool_]:
    """Rows whose ``event_id`` its sender chose (not derived from Kafka coordinates).

    An id can only be the derived ``topic/partition/offset`` if it has that length,
    so the derived id is spelt out only for rows of the right length (every row when
    the ids were derived; none when the sender chose ids of another shape).
    """
    chosen: npt.NDArray[np.bool_] = batch.event_id != ""
    sourced = np.flatnonzero(chosen & (batch.src_topic != None))  # noqa: E711 (elementwise)
    if sourced.size:
        topics, ids = batch.src_topic[sourced], batch.event_id[sourced]
        partitions, offsets = batch.src_partition[sourced], batch.src_offset[sourced]
        n = sourced.size
        length = (
            np.fromiter(map(len, topics.tolist()), np.int64, n)
            + _digits(partitions)
            + _digits(offsets)
            + 2
        )
        maybe = np.flatnonzero(np.fromiter(map(len, ids.tolist()), np.int64, n) == length)
        if maybe.size:
            derived = np.empty(maybe.size, dtype=object)
            derived[:] = [
                f"{t}/{p}/{o}"  # Coordinates.event_id
                for t, p, o in zip(
                    topics[maybe].tolist(),
                    partitions[maybe].tolist(),
                    offsets[maybe].tolist(),
                    strict=True,
                )
            ]
            chosen[sourced[maybe]] = ids[maybe] != derived
    return chosen


_POWERS_OF_TEN = 10 ** np.arange(1, 19, dtype=np.int64)


def _digits(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``len(str(v))`` for each integer ``v`` (a minus sign counted)."""
    negative = values < 0
    magnitude = np.where(negative, -(values + 1), values)  # no overflow at the minimum
    digits: npt.NDArray[np.int64] = 1 + np.searchsorted(_POWERS_OF_TEN, magnitude, side="right")
    # -(v + 1) has fewer digits than -v only when -v is a power of ten
    at_power = negative & np.isin(magnitude + 1, _POWERS_OF_TEN)
    return digits + negative + at_power


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
    return _token(kind, ((t, p, lo, hi) for (t, p), (lo, hi) in ranges.items()))
