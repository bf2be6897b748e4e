"""Storing and listing baselines: one place for the CLI, the API and the Python API.

>>> import pandas as pd
>>> from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore
>>> df = pd.DataFrame({"x": [float(i) for i in range(100)], "c": ["a", "b"] * 50})
>>> store, control = InMemoryEventStore(), InMemoryControlStore()
>>> created, summary = create_baseline(store, control, df, "m", "v1")
>>> created, summary.model, summary.version, summary.n_rows, summary.features
(True, 'm', 'v1', 100, 2)
>>> create_baseline(store, control, df, "m", "v1")[0]  # same data again: a no-op
False
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from driftd.detectors import BaselineProfile, ProfileOptions, profile_dataframe
from driftd.detectors.thresholds import learn_thresholds
from driftd.errors import BaselineError
from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol
from driftd.storage.records import StoredBaseline

if TYPE_CHECKING:
    from driftd.collector.scrub import Scrubber

__all__ = [
    "BaselineSummary",
    "create_baseline",
    "save_baseline",
    "summarise",
    "with_learned_thresholds",
]


class BaselineSummary(BaseModel):
    """What ``baseline list`` and the API show of a stored baseline."""

    model: str
    version: str
    fingerprint: str
    n_rows: int
    created_ms: int
    features: int
    prediction: bool
    label: bool


def summarise(stored: StoredBaseline) -> BaselineSummary:
    profile: dict[str, Any] = json.loads(stored.profile_json) if stored.profile_json else {}
    return BaselineSummary(
        model=stored.model,
        version=stored.version,
        fingerprint=stored.fingerprint,
        n_rows=stored.n_rows,
        created_ms=stored.created_ms,
        features=len(profile.get("features", {})),
        prediction=profile.get("prediction") is not None,
        label=profile.get("label") is not None,
    )


def save_baseline(
    store: EventStoreProtocol,
    control: ControlStoreProtocol,
    profile: BaselineProfile,
    scrubber: Scrubber | None = None,
) -> tuple[bool, BaselineSummary]:
    """Store a profile immutably; ``(False, …)`` when the identical one is already there.

    With a ``scrubber``, the profile first goes through the rules live events
    get (:func:`~driftd.collector.scrub_profile.scrub_profile`).

    Raises :class:`~driftd.errors.BaselineExistsError` when the model already
    has this version with different data.
    """
    if scrubber is not None:
        from driftd.collector.scrub_profile import scrub_profile

        profile = BaselineProfile.from_dict(scrub_profile(profile.to_dict(), scrubber))
    stored = StoredBaseline(
        model=profile.model,
        version=profile.version,
        fingerprint=profile.fingerprint,
        n_rows=profile.n_rows,
        created_ms=int(time.time() * 1000),
        profile_json=json.dumps(profile.to_dict(), allow_nan=False),
    )
    created = store.put_baseline(
        stored.model,
        stored.version,
        stored.fingerprint,
        stored.n_rows,
        stored.created_ms,
        stored.profile_json,
    )
    control.upsert_model(profile.model)
    if not created:
        stored = store.get_baseline(profile.model, profile.version)
    return created, summarise(stored)


def with_learned_thresholds(
    profile: BaselineProfile, data: pd.DataFrame, window_size: int
) -> BaselineProfile:
    """The profile with thresholds learned from ``data`` in windows of ``window_size``."""
    try:
        learned = learn_thresholds(data, profile, window_size=window_size)
    except ValueError as exc:
        raise BaselineError(str(exc), model=profile.model, version=profile.version) from None
    return dataclasses.replace(profile, thresholds=learned)


def create_baseline(
    store: EventStoreProtocol,
    control: ControlStoreProtocol,
    data: pd.DataFrame,
    model: str,
    version: str,
    *,
    prediction: str | None = None,
    label: str | None = None,
    features: Sequence[str] | None = None,
    metrics: Mapping[str, float] | None = None,
    categorical: Sequence[str] = (),
    ignore: Sequence[str] = (),
    probabilities: Mapping[str, str] | None = None,
    learn_window: int | None = None,
) -> tuple[bool, BaselineSummary]:
    """Profile a DataFrame and store it: the Python API of ``driftd baseline create``.

    ``categorical`` names columns to profile as categories whatever their
    dtype (numeric codes); ``ignore`` names columns left out of the features;
    ``probabilities`` maps each class label to the column of its predicted
    probability (events then send ``{"class": probability, ...}``); without a
    ``prediction`` column the predicted class is derived as ``predicted_class``;
    ``learn_window`` learns effect-size floors from windows of that size cut
    from ``data`` (:func:`driftd.detectors.thresholds.learn_thresholds`) and
    stores them with the baseline.
    """
    profile = profile_dataframe(
        data,
        model,
        version,
        prediction=prediction,
        label=label,
        features=list(features) if features is not None else None,
        metrics=dict(metrics) if metrics else None,
        options=ProfileOptions(
            categorical=frozenset(categorical),
            probabilities=tuple((probabilities or {}).items()),
        ),
        ignore=list(ignore),
    )
    if learn_window is not None:
        profile = with_learned_thresholds(profile, data, learn_window)
    return save_baseline(store, control, profile)
