"""The shapes other components depend on: an event store and a control store.

Collectors, detectors, alerting and the API take these protocols, never a
concrete class, so their tests can pass the in-memory fakes from
:mod:`driftd.storage.memory`. Both the real stores and the fakes are checked
against them by mypy (see the ``_conforms`` functions in each module).

Every method raises :class:`driftd.errors.StorageError` when the backend fails;
none returns a status to check.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, Protocol

from driftd.batch import PredictionBatch
from driftd.events import OutcomeRecord, PredictionRecord
from driftd.storage.alert_records import (
    AlertGroupRecord,
    AlertRecord,
    DeliveryAttempt,
    OutboxRecord,
    SilenceRecord,
)
from driftd.storage.records import (
    DriftMetric,
    LabelledPrediction,
    LabelledWindow,
    StoredBaseline,
    StoredDeadLetter,
)

__all__ = [
    "AlertStoreProtocol",
    "ControlStoreProtocol",
    "EventKind",
    "EventStoreProtocol",
    "as_batch",
]

EventKind = Literal["predictions", "outcomes"]


def as_batch(predictions: PredictionBatch | Sequence[PredictionRecord]) -> PredictionBatch:
    """Predictions as columns (records are converted)."""
    if isinstance(predictions, PredictionBatch):
        return predictions
    return PredictionBatch.from_records(predictions)


class EventStoreProtocol(Protocol):
    """The data plane: raw events, baselines, drift metrics."""

    def migrate(self) -> int:
        """Bring the schema up to date (idempotent); return its version."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def insert_predictions(
        self, records: PredictionBatch | Sequence[PredictionRecord], dedup_token: str | None = None
    ) -> None:
        """Store a batch (columns, or records) all-or-nothing; a repeated ``dedup_token``
        is a no-op."""
        ...

    def insert_outcomes(
        self, records: Sequence[OutcomeRecord], dedup_token: str | None = None
    ) -> None: ...

    def insert_drift_metrics(
        self, rows: Sequence[DriftMetric], dedup_token: str | None = None
    ) -> None: ...

    def insert_dead_letters(self, rows: Sequence[StoredDeadLetter]) -> None:
        """Keep rejected events (the sink when there is no dead-letter topic)."""
        ...

    def read_dead_letters(
        self, from_ms: int, to_ms: int, reason: str | None = None, limit: int = 1_000
    ) -> list[StoredDeadLetter]:
        """Dead letters with ``from_ms <= received < to_ms``, newest first."""
        ...

    def stored_offsets(
        self, kind: EventKind, topic: str, partitions: Iterable[int]
    ) -> dict[int, int]:
        """Highest stored Kafka offset per partition of ``topic`` (absent ones omitted)."""
        ...

    def read_predictions(self, model: str, from_ms: int, to_ms: int) -> list[PredictionRecord]:
        """Predictions with ``from_ms <= timestamp < to_ms``, by timestamp then event id."""
        ...

    def read_outcomes(self, model: str, from_ms: int, to_ms: int) -> list[OutcomeRecord]: ...

    def read_labelled(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int
    ) -> list[LabelledPrediction]:
        """Predictions with ``from_ms <= timestamp < to_ms`` (one per event id), by
        timestamp then event id, each with the latest outcome of its request id
        among those received before ``to_ms + horizon_ms`` (unlabelled if none)."""
        ...

    def read_window(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int, segment_keys: Sequence[str]
    ) -> LabelledWindow:
        """The window :meth:`read_labelled` reads, with only its labelled rows as objects:
        the rest counted, in all and per value of each of ``segment_keys`` (see
        :class:`~driftd.storage.records.LabelledWindow`)."""
        ...

    def find_predictions(
        self, model: str, request_ids: Sequence[str], from_ms: int
    ) -> list[LabelledPrediction]:
        """The earliest prediction with ``timestamp >= from_ms`` of each request id found,
        by timestamp, as an unlabelled :class:`LabelledPrediction` (what a join needs)."""
        ...

    def touched_windows(
        self, model: str, received_from_ms: int, not_before_ms: int, window_ms: int
    ) -> list[int]:
        """Starts (multiples of ``window_ms``, by prediction time ``>= not_before_ms``) of the
        windows holding a prediction received at or after ``received_from_ms``, or one whose
        request id got an outcome then; sorted."""
        ...

    def put_baseline(
        self,
        model: str,
        version: str,
        fingerprint: str,
        n_rows: int,
        created_ms: int,
        profile_json: str,
    ) -> bool:
        """True if stored, False if already stored identically; BaselineExistsError if not."""
        ...

    def get_baseline(self, model: str, version: str | None = None) -> StoredBaseline: ...

    def list_baselines(self, model: str | None = None) -> list[StoredBaseline]: ...

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
        """Metrics with ``from_ms <= window_end < to_ms``, by window end then feature.

        Filters match exactly; ``limit`` keeps the newest rows (still returned
        oldest first).
        """
        ...

    def latest_drift(self, model: str) -> list[DriftMetric]:
        """Per (baseline version, segment, feature, metric), the row of its newest window."""
        ...

    def list_models(self) -> list[str]: ...

    def count(self, kind: EventKind, model: str | None = None) -> int: ...

    def count_distinct_event_ids(self, kind: EventKind, model: str | None = None) -> int: ...


class AlertStoreProtocol(Protocol):
    """Alert state, notification groups, silences and the delivery outbox.

    Writes of alerts and groups are compare-and-set: they succeed (``True``,
    and bump ``version`` on the record passed) only when the stored version is
    the record's (``0``: not stored yet). Outbox keys are unique: a message
    queued twice is stored once.
    """

    def list_alerts(self, states: Collection[str] | None = None) -> list[AlertRecord]: ...

    def put_alert(self, alert: AlertRecord) -> bool: ...

    def put_alerts(self, alerts: Sequence[AlertRecord]) -> list[bool]:
        """Several compare-and-set writes in one transaction; one result per alert."""
        ...

    def list_groups(self) -> list[AlertGroupRecord]: ...

    def put_group(
        self, group: AlertGroupRecord, queue: Sequence[OutboxRecord] = (), *, drop: bool = False
    ) -> bool:
        """Write (or with ``drop`` delete) the group and queue ``queue``, all in one transaction."""
        ...

    def put_silence(self, silence: SilenceRecord) -> None: ...

    def list_silences(self) -> list[SilenceRecord]: ...

    def expire_silence(self, silence_id: str, now_ms: int) -> bool:
        """End an active silence now; ``False`` when unknown or already over."""
        ...

    def enqueue(self, items: Sequence[OutboxRecord]) -> int:
        """Queue messages (known keys are skipped); return how many were new."""
        ...

    def trigger_webhook(self, cooldown_key: str, cooldown_ms: int, item: OutboxRecord) -> bool:
        """Queue ``item`` unless its key is known or ``cooldown_key`` fired within the cooldown."""
        ...

    def claim_outbox(self, now_ms: int, lease_ms: int, limit: int = 50) -> list[OutboxRecord]:
        """Lease due pending messages to this caller for ``lease_ms``."""
        ...

    def finish_attempt(self, item: OutboxRecord, attempt: DeliveryAttempt) -> None:
        """Store the message's new state and the attempt, releasing the lease."""
        ...

    def list_outbox(
        self, kind: str | None = None, limit: int = 100, outbox_id: str | None = None
    ) -> list[OutboxRecord]:
        """Newest first."""
        ...

    def list_attempts(self, outbox_id: str) -> list[DeliveryAttempt]: ...

    def redeliver(self, outbox_id: str, now_ms: int) -> bool:
        """Make a message due again now, whatever its state; ``False`` when unknown."""
        ...


class ControlStoreProtocol(AlertStoreProtocol, Protocol):
    """The control plane: models, checkpoints, and the alerting tables."""

    def migrate(self) -> int: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def upsert_model(self, name: str) -> None: ...

    def list_models(self) -> list[str]: ...

    def save_checkpoints(self, states: Mapping[str, str]) -> None:
        """Store every ``key → state`` in one transaction."""
        ...

    def load_checkpoint(self, key: str) -> str | None: ...

    def delete_checkpoint(self, key: str) -> None: ...
