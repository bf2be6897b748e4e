"""Stream detectors (ADWIN) on the prediction score and chosen numeric features.

A :class:`StreamSet` belongs to one open window's state: it feeds each
batch's values to one detector per column, counts the changes that fired
since the window opened, and goes into the window's checkpoint (state bytes
as base64), so a restart or a partition move resumes every detector where it
stood, with nothing fed twice (the batch is the one the window counted).

>>> import pandas as pd
>>> from driftd.detectors import profile_dataframe
>>> profile = profile_dataframe(pd.DataFrame({"x": [1.0, 2.0], "s": [0.1, 0.9]}), "m", "v",
...                             prediction="s")
>>> streams = StreamSet.for_profile(profile, "adwin", ["x"])
>>> sorted(streams.columns)
['__prediction__', 'x']
>>> StreamSet.from_dict(streams.to_dict()).to_dict() == streams.to_dict()
True
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftd.batch import PredictionBatch
from driftd.detectors.base import StreamDetector
from driftd.detectors.profiles import PREDICTION_KEY, BaselineProfile, NumericProfile
from driftd.detectors.registry import STREAM_DETECTORS
from driftd.detectors.window import score_values
from driftd.events import PredictionRecord
from driftd.storage.base import as_batch

__all__ = ["StreamSet"]


class StreamSet:
    """One stream detector per column; ``fired`` counts changes since the window opened."""

    def __init__(self, kind: str, detectors: dict[str, StreamDetector]) -> None:
        self.kind = kind
        self.columns = detectors
        self.fired: dict[str, int] = dict.fromkeys(detectors, 0)

    @classmethod
    def for_profile(
        cls, profile: BaselineProfile, kind: str | None, features: Sequence[str]
    ) -> StreamSet:
        """The numeric prediction (unless class probabilities) and the named numeric features."""
        if kind is None:
            return cls("", {})
        if kind not in STREAM_DETECTORS:
            raise ValueError(f"unknown stream detector {kind!r}; known: {sorted(STREAM_DETECTORS)}")
        make = STREAM_DETECTORS[kind]
        names = [f for f in features if isinstance(profile.features.get(f), NumericProfile)]
        if isinstance(profile.prediction, NumericProfile):
            names.append(PREDICTION_KEY)
        return cls(kind, {name: make() for name in names})

    def feed(self, batch: PredictionBatch | Sequence[PredictionRecord]) -> None:
        """Feed one batch, in order; NaN (absent, or probabilities for a score) is skipped."""
        batch = as_batch(batch)
        if not self.columns or not len(batch):
            return
        for name, detector in self.columns.items():
            if name == PREDICTION_KEY:
                values = score_values(batch)
            else:
                values = batch.num.get(name, np.full(len(batch), math.nan))
            self.fired[name] += len(detector.update_many(values))

    def take_fired(self) -> dict[str, int]:
        """Changes per column since the last call (the window closes)."""
        fired, self.fired = self.fired, dict.fromkeys(self.columns, 0)
        return fired

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fired": dict(self.fired),
            "state": {k: base64.b64encode(d.state()).decode() for k, d in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamSet:
        kind = data["kind"]
        if not data["state"]:
            return cls(kind, {})
        make = STREAM_DETECTORS[kind]
        detectors = {k: make.restore(base64.b64decode(v)) for k, v in data["state"].items()}
        streams = cls(kind, detectors)
        streams.fired = {k: int(v) for k, v in data["fired"].items()}
        return streams
