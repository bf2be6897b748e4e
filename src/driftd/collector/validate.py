"""Stage one of every entry: decode → scrub → validate, sorting messages into records and
dead letters. Shared by the pipeline (which stores) and the Kafka forwarder (which
publishes), so both judge an event the same way.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from driftd.batch import PredictionBatch
from driftd.collector.deadletter import RejectionLog
from driftd.collector.fastpath import FastPath, FastResult
from driftd.collector.messages import BatchResult, DeadLetter, Message, not_sent_before
from driftd.collector.scrub import Scrubber
from driftd.errors import DecodeError, EventError, StorageError
from driftd.events import (
    DEFAULT_LIMITS,
    EventLimits,
    OutcomeRecord,
    PredictionRecord,
    decode,
    parse_outcome,
    parse_prediction,
)
from driftd.metrics import Metrics

__all__ = ["Validated", "Validator"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Validated:
    """A batch sorted: every valid record, those still to store, and the dead letters.

    ``batch`` and ``store_batch`` are what the pipeline reads for predictions;
    on the fast path they are built straight from columns and no record exists:
    a row storage refuses is named by ``batch.index`` (its message's position),
    and :meth:`Validator.scrubbed_payload` of that message is its dead letter's
    payload. ``result.predictions``, ``to_store_p`` and ``origin`` hold every
    prediction only on the exact path or with ``keep_records``.

    ``objects`` holds the scrubbed object of each valid message (only when the
    validator keeps them), in message order, with the message it came from.
    ``origin`` maps ``id(record)`` of every record to store to its position in
    the batch and its scrubbed object, so a record storage refuses can be
    dead-lettered like any other rejected event.
    """

    result: BatchResult
    to_store_p: list[PredictionRecord] = field(default_factory=list)
    to_store_o: list[OutcomeRecord] = field(default_factory=list)
    objects: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    origin: dict[int, tuple[Message, int, dict[str, Any]]] = field(default_factory=dict)
    batch: PredictionBatch = field(default_factory=PredictionBatch.empty)
    """Every valid prediction as columns, in message order; ``index`` is the position."""
    store_batch: PredictionBatch = field(default_factory=PredictionBatch.empty)
    """The valid predictions still to store (their message is not marked ``stored``)."""
    letters: list[DeadLetter] = field(default_factory=list)
    """The dead letters to send: ``result.dead_letters`` less those of messages marked
    ``stored`` (:func:`~driftd.collector.messages.not_sent_before`)."""


class Validator:
    """Judges raw messages against the contract, after scrubbing them.

    With ``fast`` (the default), prediction messages holding bytes (Kafka) go
    through :class:`~driftd.collector.fastpath.FastPath` first: it builds the
    batch's columns for every event it can vouch for, and only the positions it
    hands back are judged here one by one, the exact path. The result is the
    same either way (``tests/collector/test_fastpath.py``); the fast path
    builds no record: ``result.predictions``, ``to_store_p`` and ``origin`` hold
    its events only with ``keep_records`` (transitional, for callers still
    reading records), and :meth:`scrubbed_payload` gives a row's payload on
    demand. ``keep_objects`` (the forwarder) stays on the exact path.
    """

    def __init__(
        self,
        scrubber: Scrubber,
        known_model: Callable[[str], bool],
        metrics: Metrics,
        limits: EventLimits = DEFAULT_LIMITS,
        *,
        keep_objects: bool = False,
        rejections: RejectionLog | None = None,
        fast: bool = True,
        keep_records: bool = True,
    ) -> None:
        self.scrubber = scrubber
        self.known_model = known_model
        self.metrics = metrics
        self.limits = limits
        self.keep_objects = keep_objects
        self.rejections = rejections if rejections is not None else RejectionLog()
        self.fast = fast
        self.keep_records = keep_records
        self.fastpath = FastPath(scrubber, limits)

    def scrubbed_payload(self, msg: Message) -> dict[str, Any] | None:
        """The scrubbed object of one message, as the exact path would dead-letter it
        (None when it does not decode to an object)."""
        raw = msg.value
        try:
            obj = decode(raw, self.limits) if isinstance(raw, bytes) else raw
            return self.scrubber.scrub(obj) if isinstance(obj, dict) else None
        except EventError:
            return None

    def _fast(
        self, messages: Sequence[Message], now_ms: int, known: Callable[[str], bool]
    ) -> FastResult | None:
        if not self.fast or self.keep_objects:
            return None
        kinds, values = map(_KIND, messages), map(_VALUE, messages)
        positions: Sequence[int]
        if "outcomes" not in kinds and set(map(type, values)) == {bytes}:
            positions = range(len(messages))  # the common Kafka batch
        else:
            positions = [
                i
                for i, msg in enumerate(messages)
                if msg.kind == "predictions" and isinstance(msg.value, bytes)
            ]
        if not positions:
            return None
        try:
            return self.fastpath.run(
                messages, positions, now_ms, known, keep_objects=self.keep_records
            )
        except StorageError:  # the store could not say which models are known: retry the batch
            raise
        except Exception:  # a fast-path bug must cost speed, never an event
            logger.exception("the fast path failed on a batch; judging it event by event")
            return None

    def run(self, messages: Sequence[Message]) -> Validated:
        out = Validated(BatchResult())
        result = out.result
        now_ms = int(time.time() * 1000)
        scrub, limits = self.scrubber.scrub, self.limits
        verdicts: dict[str, bool] = {}

        def known(model: str) -> bool:  # asked once per model per batch
            answer = verdicts.get(model)
            if answer is None:
                answer = verdicts[model] = self.known_model(model)
            return answer

        fast = self._fast(messages, now_ms, known)
        todo: Sequence[int] = range(len(messages))
        if fast is not None and len(fast.batch):
            handled = np.zeros(len(messages), dtype=np.bool_)
            handled[fast.batch.index] = True
            todo = np.flatnonzero(~handled).tolist()
        unexpected = 0
        positions: list[int] = []
        for index in todo:
            msg = messages[index]
            obj: dict[str, Any] | None = None
            try:
                raw = msg.value
                if isinstance(raw, bytes):
                    raw = decode(raw, limits)
                elif not isinstance(raw, dict):
                    raise DecodeError(
                        "not_an_object", f"expected an object, got {type(raw).__name__}"
                    )
                elif msg.size > limits.max_payload_bytes:
                    raise DecodeError(
                        "too_large",
                        f"{msg.size} bytes exceeds the limit of {limits.max_payload_bytes}",
                    )
                obj = scrub(raw)
                received = msg.received_ms or now_ms
                if msg.kind == "predictions":
                    rec = parse_prediction(
                        obj, received_ms=received, source=msg.source, limits=limits
                    )
                    _require_known(known, rec.model)
                    result.predictions.append(rec)
                    positions.append(index)
                    if not msg.stored:
                        out.to_store_p.append(rec)
                        out.origin[id(rec)] = (msg, index, obj)
                else:
                    outcome = parse_outcome(
                        obj, received_ms=received, source=msg.source, limits=limits
                    )
                    _require_known(known, outcome.model)
                    result.outcomes.append(outcome)
                    if not msg.stored:
                        out.to_store_o.append(outcome)
                        out.origin[id(outcome)] = (msg, index, obj)
                if self.keep_objects:
                    out.objects.append((msg, obj))
            except EventError as exc:
                result.dead_letters.append(
                    DeadLetter(
                        msg.kind, exc.reason, exc.detail, obj, msg.source, index, msg.request
                    )
                )
            except StorageError:
                raise  # asking the store whether the model is known failed: not the event's fault
            except Exception as exc:  # a validator bug must not stop the loop or lose the event
                if not unexpected:  # one traceback per batch, not one per event
                    logger.exception("unexpected error validating an event (dead-lettered)")
                unexpected += 1
                result.dead_letters.append(
                    DeadLetter(
                        msg.kind,
                        "unprocessable",
                        type(exc).__name__,
                        obj,
                        msg.source,
                        index,
                        msg.request,
                    )
                )
        exact = PredictionBatch.from_records(result.predictions, positions)
        if fast is None or not len(fast.batch):
            out.batch = exact
        else:
            out.batch = _in_order(PredictionBatch.concat([fast.batch, exact]))
            if self.keep_records:
                self._add_records(out, fast, messages, positions)
        if any(map(_STORED, messages)):  # a redelivery
            stored = np.fromiter(map(_STORED, messages), np.bool_, len(messages))
            out.store_batch = out.batch.take(~stored[out.batch.index])
            out.letters = not_sent_before(result.dead_letters, messages)
        else:
            out.store_batch = out.batch
            out.letters = result.dead_letters
        self._count(result, len(out.batch), out.letters)
        return out

    def _add_records(
        self, out: Validated, fast: FastResult, messages: Sequence[Message], positions: list[int]
    ) -> None:
        """Records of the fast path's rows, for callers still reading them (transitional)."""
        result = out.result
        by_pos = dict(zip(positions, result.predictions, strict=True))
        rows = zip(fast.batch.to_records(), fast.batch.index.tolist(), fast.objects, strict=True)
        for rec, index, obj in rows:
            by_pos[index] = rec
            msg = messages[index]
            if not msg.stored:
                out.origin[id(rec)] = (msg, index, obj)
        result.predictions = [by_pos[k] for k in sorted(by_pos)]
        out.to_store_p = [r for r in result.predictions if id(r) in out.origin]

    def _count(self, result: BatchResult, predictions: int, sent: list[DeadLetter]) -> None:
        m = self.metrics
        if predictions:
            m.events_received.labels(kind="predictions").inc(predictions)
        if result.outcomes:
            m.events_received.labels(kind="outcomes").inc(len(result.outcomes))
        # the letters the pipeline sends (not those of redelivered messages marked
        # stored), counted per label set, not per letter (a lookup costs more than the add)
        letters = Counter((letter.kind, letter.reason) for letter in sent)
        for (kind, reason), n in letters.items():
            m.dead_letters.labels(kind=kind, reason=reason).inc(n)
        # received: every invalid event, redelivered or not, as the valid ones are counted
        kinds = Counter(letter.kind for letter in result.dead_letters)
        for kind_name, n in kinds.items():
            m.events_received.labels(kind=kind_name).inc(n)
        self.rejections.add(sent)


_KIND, _VALUE, _STORED = attrgetter("kind"), attrgetter("value"), attrgetter("stored")


def _in_order(batch: PredictionBatch) -> PredictionBatch:
    """The batch's rows in message order (``index`` ascending): one ``take`` for the fast
    path's two stages and the exact path's rows together, none when already in order."""
    index = batch.index
    if (index[1:] > index[:-1]).all():
        return batch
    return batch.take(np.argsort(index, kind="stable"))


def _require_known(known: Callable[[str], bool], model: str) -> None:
    if not known(model):
        raise EventError("unknown_model", f"model {model!r} has no baseline; create one first")
