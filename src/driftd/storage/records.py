"""Small record types the storage layer reads and writes besides the events.

Events themselves are :class:`driftd.events.PredictionRecord` and
:class:`driftd.events.OutcomeRecord`; times here are epoch milliseconds (UTC),
like everywhere else in driftd.

>>> m = DriftMetric(model="m", baseline_version="v1", window_id=7, window_start_ms=0,
...                 window_end_ms=300_000, feature="income", metric="psi", value=0.12,
...                 n=1000, computed_ms=300_001)
>>> m.key
('m', 'v1', '', 'psi', 'income', 7)
>>> StoredBaseline("m", "v1", "ab" * 32, 10, 0, "{}").short_fingerprint
'abababababab'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from driftd.errors import BaselineExistsError

__all__ = [
    "DriftMetric",
    "LabelledPrediction",
    "LabelledWindow",
    "StoredBaseline",
    "baseline_conflict",
    "profile_outline",
    "short_fingerprint",
]

_SHORT = 12


def short_fingerprint(fingerprint: str) -> str:
    """The first 12 characters of a fingerprint, for messages and listings."""
    return fingerprint[:_SHORT]


def baseline_conflict(model: str, version: str, stored: str, new: str) -> BaselineExistsError:
    """The error for a second, different baseline under one (model, version)."""
    return BaselineExistsError(
        f"baseline {model!r} version {version!r} already exists with fingerprint "
        f"{short_fingerprint(stored)}; the new data has fingerprint {short_fingerprint(new)}. "
        "Baselines are immutable: store the new data under a new version.",
        model=model,
        version=version,
    )


@dataclass(frozen=True, slots=True)
class DriftMetric:
    """One metric of one feature over one closed window of one model, as stored.

    ``window_id`` identifies the window within the model and baseline version (a sequence number or
    the window's start in ms: monotonic in time). The same ``key`` stored twice
    is one metric: reads return the row with the newest ``computed_ms``.
    ``n`` is the number of events in the window. ``p_value``, ``effect_size``,
    ``severity`` and ``segment`` are those of
    :class:`driftd.monitoring.results.WindowResult`.
    """

    model: str
    baseline_version: str
    window_id: int
    window_start_ms: int
    window_end_ms: int
    feature: str
    metric: str
    value: float
    n: int
    computed_ms: int
    p_value: float | None = None
    effect_size: float | None = None
    severity: str = "ok"
    segment: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """The identity the store deduplicates on.

        ``(model, baseline_version, segment, metric, feature, window_id)``:
        window ids count per baseline version.
        """
        return (
            self.model,
            self.baseline_version,
            self.segment,
            self.metric,
            self.feature,
            self.window_id,
        )


@dataclass(frozen=True, slots=True)
class StoredBaseline:
    """A baseline as stored: immutable per (model, version).

    ``profile_json`` is the profile as JSON text; listings carry only its
    outline (feature names, whether prediction and label exist) because a
    profile carries reference samples and can be large.
    """

    model: str
    version: str
    fingerprint: str
    n_rows: int
    created_ms: int
    profile_json: str

    @property
    def short_fingerprint(self) -> str:
        return short_fingerprint(self.fingerprint)


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A rejected event kept in storage (the dead-letter sink when Kafka is off).

    ``payload_json`` is the *scrubbed* event as JSON, empty when the bytes never
    decoded; ``src_*`` name the Kafka coordinates ('' / -1 for HTTP).
    """

    received_ms: int
    kind: str
    reason: str
    detail: str
    payload_json: str
    src_topic: str = ""
    src_partition: int = -1
    src_offset: int = -1


def profile_outline(features: Sequence[str], prediction: bool, label: bool) -> str:
    """A baseline profile's outline as JSON, what listings carry instead of the profile.

    >>> profile_outline(["x"], True, False)
    '{"features": {"x": {}}, "prediction": {"present": true}, "label": null}'
    """
    present = {"present": True}
    return json.dumps(
        {
            "features": {str(name): {} for name in features},
            "prediction": present if prediction else None,
            "label": present if label else None,
        }
    )


@dataclass(frozen=True, slots=True)
class LabelledPrediction:
    """A stored prediction and the outcome that judges it (``None`` while unlabelled).

    The outcome is the latest of its ``(model, request_id)`` by (outcome
    timestamp, event id): a repeated outcome counts once, a corrected one
    (a later timestamp) replaces the earlier, whatever order they arrived in.
    ``label_received_ms`` is when driftd received that outcome.
    """

    timestamp_ms: int
    request_id: str
    pred_num: float | None
    pred_label: str
    pred_proba: dict[str, float]
    segments: dict[str, str]
    outcome_num: float | None = None
    outcome_label: str = ""
    label_received_ms: int | None = None

    @property
    def labelled(self) -> bool:
        return self.label_received_ms is not None


@dataclass(frozen=True, slots=True)
class LabelledWindow:
    """A window of predictions as the performance recompute needs it: the labelled
    rows as objects, the rest only counted.

    ``labelled`` holds the labelled predictions (one per event id) by timestamp
    then event id; ``total`` counts every prediction of the window, labelled or
    not; ``segments`` maps each asked segment key to ``(value, count)`` of the
    predictions carrying that key, in the order each value first appears (by
    timestamp then event id).
    """

    labelled: list[LabelledPrediction]
    total: int
    segments: dict[str, list[tuple[str, int]]]
