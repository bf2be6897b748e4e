"""In-memory stores with the real stores' behaviour, for unit tests of other parts.

``tests/storage`` runs the same behavioural tests over these fakes and over
chDB, SQLite and PostgreSQL, so a component tested against a fake sees what
production would do: deduplicated inserts (a repeated token, or an identical
batch without one, within the last ``dedup_window`` inserts of a table),
immutable baselines, newest-computation-wins drift reads, and
:class:`~driftd.errors.StorageError` once closed. Not modelled: TTL expiry.

>>> from driftd.storage.records import DriftMetric
>>> store = InMemoryEventStore()
>>> store.migrate() == latest_version()
True
>>> m = DriftMetric("m", "v1", 1, 0, 60_000, "x", "psi", 0.2, 500, 60_001)
>>> store.insert_drift_metrics([m], dedup_token="w1")
>>> store.insert_drift_metrics([m], dedup_token="w1")  # a retry: no-op
>>> [d.value for d in store.query_drift("m", 0, 120_000)]
[0.2]
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftd.batch import PredictionBatch
from driftd.errors import BaselineNotFoundError, StorageError
from driftd.events import OutcomeRecord, PredictionRecord
from driftd.storage.base import EventKind
from driftd.storage.control_schema import CONTROL_SCHEMA_VERSION
from driftd.storage.memory_alerts import InMemoryAlertTables
from driftd.storage.migrations import RAW_EVENT_TABLES, latest_version
from driftd.storage.records import (
    DriftMetric,
    LabelledPrediction,
    LabelledWindow,
    StoredBaseline,
    StoredDeadLetter,
    baseline_conflict,
    profile_outline,
)

if TYPE_CHECKING:
    from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol

__all__ = ["InMemoryControlStore", "InMemoryEventStore"]


def _labelled(p: PredictionRecord, o: OutcomeRecord | None) -> LabelledPrediction:
    """A prediction with the outcome that judges it (unlabelled without one)."""
    return LabelledPrediction(
        p.timestamp_ms, p.request_id, p.pred_num, p.pred_label, dict(p.pred_proba),
        dict(p.segments), None if o is None else o.outcome_num,
        "" if o is None else o.outcome_label, None if o is None else o.received_ms,
    )  # fmt: skip


class _DedupWindow:
    """The last ``size`` block ids of one table, like ClickHouse's deduplication log."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def admit(self, block_id: str) -> bool:
        """True if ``block_id`` is new (and remember it), False if it is a duplicate."""
        if block_id in self._ids:
            return False
        self._order.append(block_id)
        self._ids.add(block_id)
        while len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class InMemoryEventStore:
    """A thread-safe in-memory :class:`~driftd.storage.base.EventStoreProtocol`."""

    def __init__(self, dedup_window: int = 10_000) -> None:
        if dedup_window < 1:
            raise ValueError(f"dedup_window must be >= 1, got {dedup_window}")
        self.dedup_window = dedup_window
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._predictions: list[PredictionRecord] = []
        self._outcomes: list[OutcomeRecord] = []
        self._metrics: list[DriftMetric] = []
        self._dead_letters: list[StoredDeadLetter] = []
        self._baselines: dict[tuple[str, str], StoredBaseline] = {}
        self._windows = {t: _DedupWindow(self.dedup_window) for t in (*RAW_EVENT_TABLES, "dm")}
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise StorageError("in-memory event store is closed")

    def _admit(self, table: str, rows: Sequence[Any], token: str | None) -> bool:
        self._open()
        return self._windows[table].admit(token if token is not None else repr(list(rows)))

    def migrate(self) -> int:
        self._open()
        return latest_version()

    def ping(self) -> None:
        self._open()

    def close(self) -> None:
        self._closed = True

    def insert_predictions(
        self, records: PredictionBatch | Sequence[PredictionRecord], dedup_token: str | None = None
    ) -> None:
        rows = records.to_records() if isinstance(records, PredictionBatch) else records
        with self._lock:
            if rows and self._admit("predictions", rows, dedup_token):
                self._predictions.extend(rows)

    def insert_outcomes(
        self, records: Sequence[OutcomeRecord], dedup_token: str | None = None
    ) -> None:
        with self._lock:
            if records and self._admit("outcomes", records, dedup_token):
                self._outcomes.extend(records)

    def insert_drift_metrics(
        self, rows: Sequence[DriftMetric], dedup_token: str | None = None
    ) -> None:
        with self._lock:
            if rows and self._admit("dm", rows, dedup_token):
                self._metrics.extend(rows)

    def insert_dead_letters(self, rows: Sequence[StoredDeadLetter]) -> None:
        with self._lock:
            self._open()
            self._dead_letters.extend(rows)

    def read_dead_letters(
        self, from_ms: int, to_ms: int, reason: str | None = None, limit: int = 1_000
    ) -> list[StoredDeadLetter]:
        with self._lock:
            self._open()
            found = [
                d
                for d in self._dead_letters
                if from_ms <= d.received_ms < to_ms and (reason is None or d.reason == reason)
            ]
        return sorted(found, key=lambda d: d.received_ms, reverse=True)[:limit]

    def _events(self, kind: EventKind) -> list[PredictionRecord] | list[OutcomeRecord]:
        if kind not in RAW_EVENT_TABLES:
            raise ValueError(f"kind must be one of {RAW_EVENT_TABLES}, got {kind!r}")
        self._open()
        return self._predictions if kind == "predictions" else self._outcomes

    def stored_offsets(
        self, kind: EventKind, topic: str, partitions: Iterable[int]
    ) -> dict[int, int]:
        wanted = set(partitions)
        out: dict[int, int] = {}
        with self._lock:
            for rec in self._events(kind):
                src = rec.source
                if src is not None and src.topic == topic and src.partition in wanted:
                    out[src.partition] = max(out.get(src.partition, src.offset), src.offset)
        return out

    def read_predictions(self, model: str, from_ms: int, to_ms: int) -> list[PredictionRecord]:
        with self._lock:
            self._open()
            found = [
                r
                for r in self._predictions
                if r.model == model and from_ms <= r.timestamp_ms < to_ms
            ]
        return sorted(found, key=lambda r: (r.timestamp_ms, r.event_id))

    def read_outcomes(self, model: str, from_ms: int, to_ms: int) -> list[OutcomeRecord]:
        with self._lock:
            self._open()
            found = [
                r for r in self._outcomes if r.model == model and from_ms <= r.timestamp_ms < to_ms
            ]
        return sorted(found, key=lambda r: (r.timestamp_ms, r.event_id))

    def _latest_outcomes(self, model: str, before_ms: int) -> dict[str, OutcomeRecord]:
        latest: dict[str, OutcomeRecord] = {}
        for o in self._outcomes:
            if o.model == model and o.received_ms < before_ms:
                held = latest.get(o.request_id)
                if held is None or (o.timestamp_ms, o.event_id) > (
                    held.timestamp_ms,
                    held.event_id,
                ):
                    latest[o.request_id] = o
        return latest

    def read_labelled(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int
    ) -> list[LabelledPrediction]:
        with self._lock:
            self._open()
            outcomes = self._latest_outcomes(model, to_ms + horizon_ms)
            rows = self._window(model, from_ms, to_ms)
        return [_labelled(p, outcomes.get(p.request_id) if p.request_id else None) for p in rows]

    def read_window(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int, segment_keys: Sequence[str]
    ) -> LabelledWindow:
        with self._lock:
            self._open()
            outcomes = self._latest_outcomes(model, to_ms + horizon_ms)
            rows = self._window(model, from_ms, to_ms)
        segments: dict[str, list[tuple[str, int]]] = {}
        for key in dict.fromkeys(segment_keys):
            counts = Counter(p.segments[key] for p in rows if key in p.segments)
            segments[key] = list(counts.items())  # first appearance order
        labelled = [
            _labelled(p, o)
            for p in rows
            if p.request_id and (o := outcomes.get(p.request_id)) is not None
        ]
        return LabelledWindow(labelled, len(rows), segments)

    def _window(self, model: str, from_ms: int, to_ms: int) -> list[PredictionRecord]:
        """The window's predictions, one per event id, by timestamp then event id."""
        seen: set[str] = set()
        out: list[PredictionRecord] = []
        for p in sorted(self._predictions, key=lambda r: (r.timestamp_ms, r.event_id)):
            if p.model != model or not from_ms <= p.timestamp_ms < to_ms or p.event_id in seen:
                continue
            seen.add(p.event_id)
            out.append(p)
        return out

    def find_predictions(
        self, model: str, request_ids: Sequence[str], from_ms: int
    ) -> list[LabelledPrediction]:
        wanted = {r for r in request_ids if r}
        found: dict[str, PredictionRecord] = {}
        with self._lock:
            self._open()
            for p in sorted(self._predictions, key=lambda r: (r.timestamp_ms, r.event_id)):
                if p.model == model and p.request_id in wanted and p.timestamp_ms >= from_ms:
                    found.setdefault(p.request_id, p)
        return [
            _labelled(p, None)
            for p in sorted(found.values(), key=lambda r: (r.timestamp_ms, r.event_id))
        ]

    def touched_windows(
        self, model: str, received_from_ms: int, not_before_ms: int, window_ms: int
    ) -> list[int]:
        if window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {window_ms}")
        with self._lock:
            self._open()
            labelled = {
                o.request_id
                for o in self._outcomes
                if o.model == model and o.received_ms >= received_from_ms
            }
            return sorted(
                {
                    p.timestamp_ms // window_ms * window_ms
                    for p in self._predictions
                    if p.model == model
                    and p.timestamp_ms >= not_before_ms
                    and (
                        p.received_ms >= received_from_ms
                        or (p.request_id and p.request_id in labelled)
                    )
                }
            )

    def count(self, kind: EventKind, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._events(kind) if model is None or r.model == model)

    def count_distinct_event_ids(self, kind: EventKind, model: str | None = None) -> int:
        with self._lock:
            return len(
                {r.event_id for r in self._events(kind) if model is None or r.model == model}
            )

    def list_models(self) -> list[str]:
        with self._lock:
            self._open()
            names = {m for m, _ in self._baselines} | {r.model for r in self._predictions}
        return sorted(names)

    def put_baseline(
        self,
        model: str,
        version: str,
        fingerprint: str,
        n_rows: int,
        created_ms: int,
        profile_json: str,
    ) -> bool:
        if not model or not version or not fingerprint:
            raise ValueError("model, version and fingerprint must be non-empty")
        with self._lock:
            self._open()
            stored = self._baselines.get((model, version))
            if stored is None:
                self._baselines[model, version] = StoredBaseline(
                    model, version, fingerprint, n_rows, created_ms, profile_json
                )
                return True
        if stored.fingerprint == fingerprint:
            return False
        raise baseline_conflict(model, version, stored.fingerprint, fingerprint)

    def get_baseline(self, model: str, version: str | None = None) -> StoredBaseline:
        with self._lock:
            self._open()
            found = [
                b
                for (m, v), b in self._baselines.items()
                if m == model and (version is None or v == version)
            ]
        if not found:
            which = "" if version is None else f" version {version!r}"
            raise BaselineNotFoundError(
                f"no baseline for model {model!r}{which}", model=model, version=version or ""
            )
        return max(found, key=lambda b: (b.created_ms, b.version))

    def list_baselines(self, model: str | None = None) -> list[StoredBaseline]:
        """By model, newest first; ``profile_json`` an outline, as the real store does."""
        with self._lock:
            self._open()
            found = [b for b in self._baselines.values() if model is None or b.model == model]
        found.sort(key=lambda b: (b.created_ms, b.version), reverse=True)
        found.sort(key=lambda b: b.model)
        out = []
        for b in found:
            profile = json.loads(b.profile_json)
            outline = profile_outline(
                list(profile.get("features", {})),
                profile.get("prediction") is not None,
                profile.get("label") is not None,
            )
            out.append(
                StoredBaseline(b.model, b.version, b.fingerprint, b.n_rows, b.created_ms, outline)
            )
        return out

    def query_drift(
        self,
        model: str,
        from_ms: int,
        to_ms: int,
        feature: str | None = None,
        metric: str | None = None,
        *,
        severity: str | None = None,
        baseline_version: str | None = None,
        limit: int | None = None,
    ) -> list[DriftMetric]:
        wanted = {
            "feature": feature,
            "metric": metric,
            "severity": severity,
            "baseline_version": baseline_version,
        }
        newest = {
            key: m
            for key, m in self._newest_metrics(model).items()
            if from_ms <= m.window_end_ms < to_ms
            and all(v is None or getattr(m, k) == v for k, v in wanted.items())
        }
        rows = sorted(newest.values(), key=lambda m: (m.window_end_ms, m.feature, m.metric))
        return rows if limit is None else rows[max(0, len(rows) - limit) :]

    def latest_drift(self, model: str) -> list[DriftMetric]:
        latest: dict[tuple[str, str, str, str], DriftMetric] = {}
        for m in self._newest_metrics(model).values():
            key = (m.baseline_version, m.segment, m.feature, m.metric)
            if key not in latest or m.window_id > latest[key].window_id:
                latest[key] = m
        return sorted(
            latest.values(), key=lambda m: (m.feature, m.metric, m.baseline_version, m.segment)
        )

    def _newest_metrics(self, model: str) -> dict[tuple[str, str, str, str, str, int], DriftMetric]:
        newest: dict[tuple[str, str, str, str, str, int], DriftMetric] = {}
        with self._lock:
            self._open()
            for m in self._metrics:
                if m.model == model:
                    seen = newest.get(m.key)
                    if seen is None or m.computed_ms >= seen.computed_ms:
                        newest[m.key] = m
        return newest


class InMemoryControlStore(InMemoryAlertTables):
    """A thread-safe in-memory :class:`~driftd.storage.base.ControlStoreProtocol`.

    >>> store = InMemoryControlStore()
    >>> store.save_checkpoints({"psi/m/0": '{"n": 3}'})
    >>> store.load_checkpoint("psi/m/0")
    '{"n": 3}'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._models: set[str] = set()
        self._checkpoints: dict[str, str] = {}
        self._closed = False
        self._reset_alerts()

    def _open(self) -> None:
        if self._closed:
            raise StorageError("in-memory control store is closed")

    def migrate(self) -> int:
        self._open()
        return CONTROL_SCHEMA_VERSION

    def ping(self) -> None:
        self._open()

    def close(self) -> None:
        self._closed = True

    def upsert_model(self, name: str) -> None:
        with self._lock:
            self._open()
            self._models.add(name)

    def list_models(self) -> list[str]:
        with self._lock:
            self._open()
            return sorted(self._models)

    def save_checkpoints(self, states: Mapping[str, str]) -> None:
        """All or nothing: a non-text state (a NOT NULL/type error in SQL) stores none."""
        with self._lock:
            self._open()
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in states.items()):
                raise StorageError("checkpoint keys and states must be text")
            self._checkpoints.update(states)

    def load_checkpoint(self, key: str) -> str | None:
        with self._lock:
            self._open()
            return self._checkpoints.get(key)

    def delete_checkpoint(self, key: str) -> None:
        with self._lock:
            self._open()
            self._checkpoints.pop(key, None)


if TYPE_CHECKING:

    def _conforms_event(store: InMemoryEventStore) -> EventStoreProtocol:
        return store

    def _conforms_control(store: InMemoryControlStore) -> ControlStoreProtocol:
        return store
