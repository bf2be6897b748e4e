"""Model performance as labels join: window metrics recomputed, errors watched by ADWIN.

Two entries, both reading what storage holds, so a label that is repeated,
corrected, out of order or days late counts exactly as if it had arrived at
once (the join keeps the latest outcome per request id; see
:meth:`~driftd.storage.base.EventStoreProtocol.read_labelled`):

* :meth:`PerformanceMonitor.recompute`, called by a :class:`Ticker` every
  interval (not per outcome): per model, the windows (of prediction time)
  that received a prediction or a label since the last scan, within the
  horizon, are recomputed from storage (the labelled predictions as rows, the
  rest only counted, in all and per segment: see
  :meth:`~driftd.storage.base.EventStoreProtocol.read_window`) and their
  results published, when they changed, to the sinks (storage, gauges,
  alerting) as :class:`WindowResult` records. The scan cursor is
  checkpointed; after a crash the windows since the last checkpoint are
  simply recomputed again: nothing lost, nothing counted twice. A window is
  *final* once ``horizon_ms`` has passed since its end: later labels no
  longer change it.
* :meth:`PerformanceMonitor.observe_outcomes`, the pipeline's hook once a
  batch of outcomes is stored: each outcome's prediction is looked up by
  request id, and the per-event error (0/1 misclassification, absolute error)
  fed in arrival order to a stream detector (ADWIN by default), so a drop is
  seen without waiting for a window. Its state and the highest Kafka offset
  fed per partition are checkpointed together, so a redelivered batch is not
  fed twice. An outcome whose prediction has not arrived is left to the window
  metrics.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from driftd.detectors.base import StreamDetector
from driftd.detectors.perf_verdict import PerformancePolicy
from driftd.detectors.profiles import BaselineProfile
from driftd.detectors.registry import STREAM_DETECTORS
from driftd.errors import BaselineNotFoundError
from driftd.events import OutcomeRecord
from driftd.monitoring.perf_windows import (
    OUTCOME_FEATURE,
    WindowSpec,
    event_errors,
    labelled_results,
)
from driftd.monitoring.results import ResultSink, WindowResult
from driftd.monitoring.windows import RetryStep, run_once
from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol
from driftd.storage.records import LabelledPrediction, LabelledWindow

__all__ = ["DAY_MS", "ERROR_CHANGE", "PerformanceMonitor", "PerformancePlan"]

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
ERROR_CHANGE = "error_change"
"""The metric of a change the stream detector found in the error stream."""


@dataclass(frozen=True, slots=True)
class PerformancePlan:
    """How performance windows are cut and judged."""

    window_ms: int = 3_600_000
    horizon_ms: int = 30 * DAY_MS
    policy: PerformancePolicy = field(default_factory=PerformancePolicy)
    segment_keys: tuple[str, ...] = ()
    max_segments: int = 20
    error_detector: str | None = "adwin"
    resamples: int = 200
    rescan_margin_ms: int = 60_000

    def __post_init__(self) -> None:
        if self.window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {self.window_ms}")
        if self.horizon_ms < 0:
            raise ValueError(f"horizon_ms must be >= 0, got {self.horizon_ms}")
        if self.error_detector is not None and self.error_detector not in STREAM_DETECTORS:
            raise ValueError(
                f"error_detector {self.error_detector!r} is unknown; "
                f"known: {sorted(STREAM_DETECTORS)}"
            )

    def is_final(self, window_end_ms: int, now_ms: int) -> bool:
        """True once no label can change the window any more."""
        return now_ms >= window_end_ms + self.horizon_ms


@dataclass(slots=True)
class _State:
    scan_ms: int | None = None
    detector: StreamDetector | None = None
    offsets: dict[str, int] = field(default_factory=dict)
    published: dict[int, str] = field(default_factory=dict)  # window start → digest (not saved)


class PerformanceMonitor:
    """Per model: window metrics as labels join, and a detector on the error stream."""

    def __init__(
        self,
        store: EventStoreProtocol,
        control: ControlStoreProtocol,
        sinks: Sequence[ResultSink],
        plan: PerformancePlan | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.control = control
        self.sinks = list(sinks)
        self.plan = plan if plan is not None else PerformancePlan()
        self.clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.RLock()  # the states: detectors, offsets, cursors
        self._recomputing = threading.Lock()  # one recompute at a time, never under _lock

    # --- state -------------------------------------------------------------------

    def _state(self, model: str) -> _State:
        state = self._states.get(model)
        if state is not None:
            return state
        state = _State()
        saved = self.control.load_checkpoint(_key(model))
        if saved is not None:
            data = json.loads(saved)
            state.scan_ms = data["scan_ms"]
            state.offsets = {k: int(v) for k, v in data["offsets"].items()}
            if data["detector"] is not None:
                kind, blob = data["detector"]
                state.detector = STREAM_DETECTORS[kind].restore(base64.b64decode(blob))
        self._states[model] = state
        return state

    def _save(self, models: Sequence[str]) -> None:
        with self._lock:
            self._save_locked(models)

    def _save_locked(self, models: Sequence[str]) -> None:
        saved = {}
        for model in models:
            s = self._states[model]
            detector = None
            if s.detector is not None:
                detector = [s.detector.name, base64.b64encode(s.detector.state()).decode()]
            saved[_key(model)] = json.dumps(
                {"scan_ms": s.scan_ms, "offsets": s.offsets, "detector": detector}
            )
        if saved:
            self.control.save_checkpoints(saved)

    def _baseline(self, model: str) -> tuple[str, dict[str, float]]:
        try:
            stored = self.store.get_baseline(model)
        except BaselineNotFoundError:
            return "", {}
        return stored.version, dict(
            BaselineProfile.from_dict(json.loads(stored.profile_json)).metrics
        )

    # --- windows -----------------------------------------------------------------

    def tick(self, retry: RetryStep = run_once) -> int:
        """The ticker's call: :meth:`recompute`."""
        return self.recompute(retry)

    def recompute(self, retry: RetryStep = run_once) -> int:
        """Recompute the windows touched since the last scan; return how many results changed.

        Runs without the state lock held (only to read and set a model's cursor), so a
        long recompute never holds up the pipeline's :meth:`observe_outcomes`.
        """
        with self._recomputing:
            now = int(self.clock() * 1000)
            models = retry("list models", self.store.list_models)
            published = 0
            for model in models:
                results = retry(f"performance of {model}", partial(self._recompute, model, now))
                if results:
                    self._publish(results, retry)
                    published += len(results)
            retry("checkpoint performance", lambda: self._save(models))
            return published

    def _recompute(self, model: str, now: int) -> list[WindowResult]:
        plan = self.plan
        with self._lock:
            state = self._state(model)
        since = 0 if state.scan_ms is None else state.scan_ms - plan.rescan_margin_ms
        oldest = now - plan.horizon_ms - plan.window_ms
        starts = self.store.touched_windows(model, since, oldest, plan.window_ms)
        version, baseline = self._baseline(model) if starts else ("", {})
        spec = WindowSpec(model, version, baseline, plan.policy, plan.window_ms, plan.resamples)
        out: list[WindowResult] = []
        for start in starts:
            window = self.store.read_window(
                model, start, start + plan.window_ms, plan.horizon_ms, plan.segment_keys
            )
            results = labelled_results(spec, start, window.labelled, window.total)
            for segment, part, n in self._segments(window):
                results += labelled_results(spec, start, part, n, segment)
            digest = hashlib.sha256(repr(results).encode()).hexdigest()
            if state.published.get(start) != digest:
                state.published[start] = digest
                out += results
        state.scan_ms = now
        for start in [s for s in state.published if s < oldest]:
            del state.published[start]
        return out

    def _segments(self, window: LabelledWindow) -> list[tuple[str, list[LabelledPrediction], int]]:
        """Per segment key, the ``max_segments`` values with the most predictions (ties
        in first appearance order), by name: name, labelled rows, count of predictions."""
        out = []
        for key in self.plan.segment_keys:
            counts = Counter({f"{key}={v}": n for v, n in window.segments.get(key, [])})
            for name, n in sorted(counts.most_common(self.plan.max_segments)):
                value = name[len(key) + 1 :]
                part = [r for r in window.labelled if r.segments.get(key) == value]
                out.append((name, part, n))
        return out

    def _publish(self, results: list[WindowResult], retry: RetryStep) -> None:
        for sink in self.sinks:
            retry("publish performance", partial(sink.publish, results))

    # --- the error stream ----------------------------------------------------------

    def observe_outcomes(
        self, outcomes: Sequence[OutcomeRecord], retry: RetryStep = run_once
    ) -> int:
        """Feed the errors of stored outcomes to each model's detector; return changes found."""
        kind = self.plan.error_detector
        if kind is None or not outcomes:
            return 0
        with self._lock:
            by_model: dict[str, list[OutcomeRecord]] = {}
            for o in outcomes:
                by_model.setdefault(o.model, []).append(o)
            results: list[WindowResult] = []
            for model, batch in by_model.items():
                results += retry(f"error stream of {model}", partial(self._feed, model, batch))
            if results:
                self._publish(results, retry)
            retry("checkpoint performance", lambda: self._save(list(by_model)))
            return len(results)

    def _feed(self, model: str, outcomes: list[OutcomeRecord]) -> list[WindowResult]:
        state = self._state(model)
        fresh = [o for o in outcomes if not _fed(o, state.offsets)]
        if not fresh:
            return []
        since = min(o.timestamp_ms for o in fresh) - self.plan.horizon_ms
        found = self.store.find_predictions(model, [o.request_id for o in fresh], since)
        by_request = {p.request_id: p for p in found}
        rows = [
            LabelledPrediction(
                p.timestamp_ms,
                p.request_id,
                p.pred_num,
                p.pred_label,
                p.pred_proba,
                p.segments,
                o.outcome_num,
                o.outcome_label,
                o.received_ms,
            )
            for o in fresh
            if (p := by_request.get(o.request_id)) is not None
        ]
        for o in fresh:
            if o.source is not None:
                where = f"{o.source.topic}/{o.source.partition}"
                state.offsets[where] = max(state.offsets.get(where, -1), o.source.offset)
        if not rows:
            return []
        try:
            errors = event_errors(rows)
        except ValueError:
            logger.warning("outcomes of %s do not fit their predictions; not fed", model)
            return []
        if state.detector is None:
            state.detector = STREAM_DETECTORS[self.plan.error_detector or "adwin"]()
        fired = state.detector.update_many(errors)
        version = self._baseline(model)[0] if fired else ""
        window = self.plan.window_ms
        return [
            WindowResult(
                model,
                version,
                rows[i].timestamp_ms // window,
                rows[i].timestamp_ms // window * window,
                rows[i].timestamp_ms // window * window + window,
                i + 1,
                OUTCOME_FEATURE,
                ERROR_CHANGE,
                float(np.mean(errors[max(0, i - 99) : i + 1])),
                None,
                None,
                "warning",
            )
            for i in fired
        ]


def _key(model: str) -> str:
    return f"performance/{model}"


def _fed(outcome: OutcomeRecord, offsets: dict[str, int]) -> bool:
    src = outcome.source
    return src is not None and src.offset <= offsets.get(f"{src.topic}/{src.partition}", -1)
