"""Per-model count windows, judged when they close, checkpointed after every batch.

A :class:`DriftMonitor` routes each prediction to its baseline (the event's
``model_version`` when a baseline of that version exists, else the model's
newest), counts it into that baseline's open window (vectorised: one
:meth:`~driftd.detectors.window.Binner.count_chunks` call per baseline and batch
counts every window's share of it), and closes the window every ``window_size``
events. A :class:`~driftd.monitoring.judge.WindowJudge`
turns the closed window into :class:`WindowResult` records (every configured
test on every feature and on the prediction, with severities), persistence is
applied, and :meth:`DriftMonitor.process` publishes them to every sink.

Exactly-once counting across crashes and partition moves: the checkpoint of
a window holds, beside its bin counts, the last Kafka offset it counted per
topic/partition, and a redelivered event at or below that offset is not
counted again. A closed window's metrics are written with a deduplication
token and into a table that collapses the same ``(model, metric, feature,
window_id)``, so a window closed twice (crash between the metrics insert and
the checkpoint) is stored once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftd.batch import PredictionBatch, factorize
from driftd.detectors import BaselineProfile, Binner, WindowCounts
from driftd.detectors.verdict import Persistence
from driftd.errors import BaselineNotFoundError
from driftd.events import PredictionRecord
from driftd.monitoring.judge import WindowId, WindowJudge
from driftd.monitoring.results import ResultSink
from driftd.monitoring.segments import SegmentSlices, rows_by_code
from driftd.monitoring.streams import StreamSet
from driftd.monitoring.windows import ClosedWindow, OpenWindow, RetryStep, WindowPlan, run_once
from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol, as_batch

__all__ = ["DriftMonitor", "Predictions"]

_SHARES_AT_ONCE = 16  # shares of a batch counted in one pass (their counts held at once)

Predictions = PredictionBatch | Sequence[PredictionRecord]
"""What the monitor counts: columns, or records (converted to columns)."""


class DriftMonitor:
    """Counts predictions into per-baseline windows and judges each closed window.

    Count windows close every ``window_size`` events; with ``duration_s`` the
    windows are tumbling in event time instead (``[k * duration, (k + 1) *
    duration)``; an event of a later span closes the open window, a late
    one counts into it). :meth:`tick` closes a window that has received
    nothing for ``idle_timeout_s`` of wall clock (a partial window; below
    the policy's minimum size it is reported, not judged). ``refresh_s``
    bounds how long a newly created baseline (or model) can go unnoticed;
    ``judge`` holds the tests and the verdict policy; ``sinks`` receive every
    closed window's results from :meth:`process` and :meth:`tick`.
    ``stream_detector`` (a name in ``STREAM_DETECTORS``, or ``None``) runs on the
    numeric prediction and on ``stream_features``, fed batch by batch; a window
    reports how many changes it detected while open (metric ``adwin``). The methods
    are thread-safe: a ticker thread may call :meth:`tick` beside the pipeline.
    """

    def __init__(
        self,
        store: EventStoreProtocol,
        control: ControlStoreProtocol,
        *,
        window_size: int = 1_000,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        judge: WindowJudge | None = None,
        sinks: list[ResultSink] | None = None,
        duration_s: float | None = None,
        idle_timeout_s: float | None = None,
        stream_detector: str | None = "adwin",
        stream_features: Sequence[str] = (),
        plans: Mapping[str, WindowPlan] | None = None,
    ) -> None:
        if refresh_s < 0:
            raise ValueError(f"refresh_s must be >= 0, got {refresh_s}")
        self.plan = WindowPlan(
            window_size,
            duration_s,
            idle_timeout_s,
            judge if judge is not None else WindowJudge(),
            stream_detector,
            tuple(stream_features),
        )
        self.plans = dict(plans or {})
        self._lock = threading.RLock()
        self.store = store
        self.control = control
        self.refresh_s = refresh_s
        self.clock = clock
        self.sinks = sinks if sinks is not None else []  # shared: the daemon may append
        self._reset()

    def _reset(self) -> None:
        self._windows: dict[tuple[str, str], OpenWindow] = {}
        self._profiles: dict[tuple[str, str], BaselineProfile] = {}
        self._newest: dict[str, tuple[str | None, float]] = {}  # model -> (version, checked at)

    # --- baselines --------------------------------------------------------------

    def _newest_version(self, model: str) -> str | None:
        cached = self._newest.get(model)
        now = self.clock()
        if cached is not None and now - cached[1] < self.refresh_s:
            return cached[0]
        try:
            version: str | None = self.store.get_baseline(model).version
        except BaselineNotFoundError:
            version = None
        self._newest[model] = (version, now)
        return version

    def known_model(self, model: str) -> bool:
        """True when the model has a baseline (re-checked every ``refresh_s``)."""
        return self._newest_version(model) is not None

    def _profile(self, model: str, version: str) -> BaselineProfile | None:
        key = (model, version)
        profile = self._profiles.get(key)
        if profile is None:
            try:
                stored = self.store.get_baseline(model, version)
            except BaselineNotFoundError:
                return None
            profile = BaselineProfile.from_dict(json.loads(stored.profile_json))
            self._profiles[key] = profile
        return profile

    def _window(self, model: str, requested: str) -> OpenWindow | None:
        version = requested if requested and self._profile(model, requested) else None
        if version is None:
            version = self._newest_version(model)
            if version is None:
                return None
        window = self._windows.get((model, version))
        if window is None:
            profile = self._profile(model, version)
            if profile is None:
                return None
            plan = self.plans.get(model, self.plan)
            window = OpenWindow(
                model,
                version,
                profile,
                Binner(profile),
                plan,
                streaks=Persistence(plan.judge.policy.persistence),
                streams=StreamSet.for_profile(profile, plan.stream_detector, plan.stream_features),
                slices=SegmentSlices(plan.max_segments),
            )
            self._restore(window)
            self._windows[(model, version)] = window
        return window

    def _restore(self, window: OpenWindow) -> None:
        saved = self.control.load_checkpoint(window.key)
        if saved is None:
            return
        state = json.loads(saved)
        window.window_id = int(state["window_id"])
        window.offsets = {k: int(v) for k, v in state["offsets"].items()}
        if state["counts"] is not None:
            window.counts = WindowCounts.from_dict(state["counts"])
        window.bucket = state.get("bucket")
        if state.get("streams") is not None:
            window.streams = StreamSet.from_dict(state["streams"])
        window.slices = SegmentSlices.from_dict(window.plan.max_segments, state.get("slices", {}))
        window.seen_at = self.clock()
        window.streaks = Persistence.from_dict(
            window.plan.judge.policy.persistence, state.get("streaks", {})
        )

    # --- counting ---------------------------------------------------------------

    def observe(self, batch: Predictions) -> list[ClosedWindow]:
        """Count the predictions; return the windows that closed, oldest first."""
        with self._lock:
            return self._observe(as_batch(batch))

    def _observe(self, batch: PredictionBatch) -> list[ClosedWindow]:
        n = len(batch)
        if n == 0:
            return []
        # (model, model_version) → window, resolved once per pair, in order of appearance
        models, model_names = factorize(batch.model)
        versions, version_names = factorize(batch.model_version)
        if len(model_names) == 1 and len(version_names) == 1:  # the usual batch: one pair
            pairs, uniques = versions, np.zeros(1, dtype=np.int64)
        else:
            pairs, uniques = pd.factorize(models * len(version_names) + versions)
        windows: list[OpenWindow] = []
        slot: dict[int, int] = {}  # id(window) -> position in windows
        of_pair = np.full(len(uniques), -1, dtype=np.int64)
        for j, pair in enumerate(uniques.tolist()):
            model, version = divmod(pair, len(version_names))
            window = self._window(model_names[model], version_names[version])
            if window is not None:
                of_pair[j] = slot.setdefault(id(window), len(windows))
                if of_pair[j] == len(windows):
                    windows.append(window)
        owner = of_pair[pairs]
        keep = owner >= 0
        self._skip_counted(batch, windows, owner, keep)
        rows_of: list[tuple[int, OpenWindow, npt.NDArray[np.int64]]] = []
        for w, window in enumerate(windows):
            rows = np.flatnonzero(keep & (owner == w))
            if rows.size:
                rows_of.append((int(rows[0]), window, rows))
        rows_of.sort(key=lambda item: item[0])  # windows in order of their first event
        closed: list[ClosedWindow] = []
        for _, window, rows in rows_of:
            first, last = int(rows[0]), int(rows[-1])
            if last - first + 1 == rows.size:  # one run (a Kafka poll groups partitions)
                share = batch.slice(first, last + 1)
            else:
                share = batch.take(rows)
            closed.extend(self._count(window, share))
        return closed

    @staticmethod
    def _skip_counted(
        batch: PredictionBatch,
        windows: list[OpenWindow],
        owner: npt.NDArray[np.int64],
        keep: npt.NDArray[np.bool_],
    ) -> None:
        """Clear ``keep`` for events a window counted before (a redelivery after a crash or
        a partition move: offset at or below the highest counted, earlier ones included),
        and advance each window's offsets."""
        sourced = np.flatnonzero(keep & (batch.src_partition >= 0) & (batch.src_topic != None))  # noqa: E711
        if sourced.size == 0:
            return
        topics, topic_names = factorize(batch.src_topic[sourced])
        partitions = batch.src_partition[sourced]
        width = int(partitions.max()) + 1
        keys = (owner[sourced] * len(topic_names) + topics) * width + partitions
        groups, inverse = np.unique(keys, return_inverse=True)
        updates: list[tuple[int, OpenWindow, str, int]] = []
        for key, members in zip(
            groups.tolist(), rows_by_code(inverse.reshape(-1), len(groups)), strict=True
        ):
            rows = sourced[members]
            rest, partition = divmod(key, width)
            w, topic = divmod(rest, len(topic_names))
            window = windows[w]
            tp = f"{topic_names[topic]}/{partition}"
            offsets = batch.src_offset[rows]
            before = np.maximum.accumulate(
                np.concatenate([[window.offsets.get(tp, -1)], offsets[:-1]])
            )
            fresh = offsets > before
            keep[rows[~fresh]] = False
            if fresh.any():
                updates.append((int(rows[np.argmax(fresh)]), window, tp, int(offsets.max())))
        for _, window, tp, offset in sorted(updates, key=lambda u: u[0]):
            window.offsets[tp] = offset  # in order of first counted event, as one by one

    def _count(self, window: OpenWindow, batch: PredictionBatch) -> list[ClosedWindow]:
        """Count ``batch`` into the window share by share (a share ends where the open window
        closes), every share counted in one pass; close each window that fills up."""
        closed = []
        window.dirty = True
        window.seen_at = self.clock()
        shares = self._shares(window, batch)
        start = 0
        for (end, full, bucket), counts in zip(
            shares, self._counted(window, batch, shares), strict=True
        ):
            part = batch.slice(start, end)
            if bucket is not None:
                window.bucket = bucket
            window.streams.feed(part)
            window.slices.count(window.binner, part, window.plan.segment_keys)
            window.counts = counts if window.counts is None else window.counts.merge(counts)
            start = end
            if full:
                closed.append(self._close(window))
        return closed

    @staticmethod
    def _counted(
        window: OpenWindow, batch: PredictionBatch, shares: list[tuple[int, bool, int | None]]
    ) -> Iterator[WindowCounts]:
        """Every share's counts, at most ``_SHARES_AT_ONCE`` shares counted in one pass: a batch
        may span thousands of windows (a backlog of event time, a small ``window_size``), and
        each share's counts hold a grid of up to ~10,000 cells per numeric column."""
        ends = [end for end, _, _ in shares]
        first = 0
        for i in range(0, len(ends), _SHARES_AT_ONCE):
            group = ends[i : i + _SHARES_AT_ONCE]
            last = group[-1]
            part = batch.slice(first, last)
            yield from window.binner.count_chunks(part, [end - first for end in group])
            first = last

    @staticmethod
    def _shares(window: OpenWindow, batch: PredictionBatch) -> list[tuple[int, bool, int | None]]:
        """Where each window's share of ``batch`` ends, whether the window closes there, and
        (time windows) its span: the open window's share first, then one per window after it.

        Count windows close every ``window_size`` events (a window restored fuller than
        that closes at once). A time window closes before the first event of a later span
        than its own (``later``: the running maximum of the spans grows there); the next
        one takes that event's span.
        """
        plan = window.plan
        n = len(batch)
        if plan.duration_s is None:
            room = max(plan.window_size - window.filled(), 0)
            ends = range(room, n + 1, plan.window_size)
            shares: list[tuple[int, bool, int | None]] = [(end, True, None) for end in ends]
            if not ends or ends[-1] < n:
                shares.append((n, False, None))
            return shares
        spans = batch.timestamp_ms // (plan.duration_s * 1000)
        first = int(spans[0]) if window.bucket is None else window.bucket
        reached = np.maximum.accumulate(np.concatenate([[first], spans[:-1]]))
        later = np.flatnonzero(spans > reached).tolist()
        buckets = [first, *(int(spans[i]) for i in later)]
        fulls = [True] * len(later) + [False]
        return list(zip([*later, n], fulls, buckets, strict=True))

    def tick(self, retry: RetryStep = run_once) -> int:
        """Close (and publish) every window idle for ``idle_timeout_s``; return how many."""
        with self._lock:
            now = self.clock()
            closed = [
                self._close(w)
                for w in self._windows.values()
                if w.filled()
                and w.plan.idle_timeout_s is not None
                and now - w.seen_at >= w.plan.idle_timeout_s
            ]
            self._publish(closed, retry)
            return len(closed)

    def _close(self, window: OpenWindow) -> ClosedWindow:
        counts = window.counts
        assert counts is not None
        wid = WindowId(window.model, window.version, window.window_id)
        judge = window.plan.judge
        judged = judge.judge(window.profile, counts, wid)
        judged += judge.stream_results(
            window.profile, counts, wid, window.streams.kind, window.streams.take_fired()
        )
        slices, dropped = window.slices.take()
        for label, sliced in sorted(slices.items()):
            judged += judge.judge(window.profile, sliced, replace(wid, segment=label))
        if window.plan.segment_keys:
            judged.append(judge.count_result(counts, wid, "segments_dropped", dropped))
        rows = [
            r.with_severity(window.streaks.apply(f"{r.segment}|{r.feature}|{r.metric}", r.severity))
            for r in judged
        ]
        result = ClosedWindow(window.model, window.version, window.window_id, rows)
        window.window_id += 1
        window.counts = None
        window.bucket = None
        window.dirty = True
        return result

    def process(self, batch: Predictions, retry: RetryStep = run_once) -> int:
        """Count, publish the results of closed windows to every sink, checkpoint.

        Returns the number of windows closed. Each step goes through ``retry``;
        sinks are idempotent on a window's identity, so a retried publish
        (or a window closed again after a crash before its checkpoint) is
        stored once.
        """
        with self._lock:
            closed = self._observe(as_batch(batch))
            self._publish(closed, retry)
            return len(closed)

    def _publish(self, closed: list[ClosedWindow], retry: RetryStep) -> None:
        results = [r for window in closed for r in window.rows]
        if closed:
            for sink in self.sinks:
                retry(f"publish to {type(sink).__name__}", partial(sink.publish, results))
        retry("checkpoint", self.checkpoint)

    # --- durability -------------------------------------------------------------

    def checkpoint(self) -> None:
        """Save every window changed since the last checkpoint, in one transaction."""
        with self._lock:
            self._checkpoint()

    def _checkpoint(self) -> None:
        dirty = [w for w in self._windows.values() if w.dirty]
        if not dirty:
            return
        self.control.save_checkpoints({w.key: w.state() for w in dirty})
        for window in dirty:
            window.dirty = False

    def forget(self, topic: str, partitions: Iterable[int]) -> None:
        """Drop windows fed from partitions this process no longer owns.

        Their state is already checkpointed (after every batch); whoever takes
        the partitions over resumes from that checkpoint.
        """
        gone = {f"{topic}/{p}" for p in partitions}
        with self._lock:
            for key, window in list(self._windows.items()):
                if gone.intersection(window.offsets):
                    del self._windows[key]
