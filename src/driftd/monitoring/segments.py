"""Per-segment slices of a window: the same counts, split by a segment tag's value.

Events carry low-cardinality ``segments`` tags (``{"region": "eu"}``). For
every tag key a model's plan names, a window also keeps counts per value
(``"region=eu"``), closed and judged with the window it belongs to, each
slice under its own ``segment`` in the results. At most ``cap`` slices per
window: values beyond it are not sliced (their events still count in the
whole window), and how many events that left out is reported as the
``segments_dropped`` count of the window.

>>> s = SegmentSlices(cap=2)
>>> s.labels_of({"region": "eu", "tier": "gold"}, ["region"])
['region=eu']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftd.batch import PredictionBatch
from driftd.detectors.window import Binner, WindowCounts
from driftd.events import PredictionRecord
from driftd.storage.base import as_batch

__all__ = ["SegmentSlices", "rows_by_code"]


def rows_by_code(codes: npt.NDArray[np.intp], count: int) -> list[npt.NDArray[np.intp]]:
    """For each code ``0 .. count - 1``, the positions holding it, in order (negative
    codes, absent values, belong to none).

    >>> [r.tolist() for r in rows_by_code(np.array([1, -1, 0, 1]), 2)]
    [[2], [0, 3]]
    """
    if count <= 8:  # a few groups: one comparison each beats a sort
        return [np.flatnonzero(codes == c) for c in range(count)]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(count + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(count)]


class SegmentSlices:
    """Counts per ``key=value`` slice, at most ``cap`` slices; checkpointable."""

    def __init__(self, cap: int = 20) -> None:
        if cap < 0:
            raise ValueError(f"cap must be >= 0, got {cap}")
        self.cap = cap
        self.counts: dict[str, WindowCounts] = {}
        self.dropped = 0

    @staticmethod
    def labels_of(segments: Mapping[str, str], keys: Sequence[str]) -> list[str]:
        return [f"{k}={segments[k]}" for k in keys if k in segments]

    def count(
        self,
        binner: Binner,
        batch: PredictionBatch | Sequence[PredictionRecord],
        keys: Sequence[str],
    ) -> None:
        """Add one batch, slice by slice (one vectorised count per slice).

        New slices are opened in the order their label first appears (event by
        event, keys in ``keys`` order) while there is room.
        """
        if not keys:
            return
        batch = as_batch(batch)
        width = len(keys)
        found: list[tuple[int, str, npt.NDArray[np.int64]]] = []  # (first at, label, rows)
        for k, key in enumerate(keys):
            column = batch.segments.get(key)
            if column is None:
                continue
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            for value, members in zip(uniques, rows_by_code(codes, len(uniques)), strict=True):
                found.append((int(members[0]) * width + k, f"{key}={value}", members))
        found.sort(key=lambda item: item[0])
        room = self.cap - len(self.counts)
        for _, label, members in found:
            if label not in self.counts:
                if room <= 0:
                    self.dropped += int(members.size)
                    continue
                room -= 1
            counts = binner.count_batch(batch.take(members))
            seen = self.counts.get(label)
            self.counts[label] = counts if seen is None else seen.merge(counts)

    def take(self) -> tuple[dict[str, WindowCounts], int]:
        """The slices of the window that closes, and the events left unsliced; then empty."""
        taken, dropped = self.counts, self.dropped
        self.counts, self.dropped = {}, 0
        return taken, dropped

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """JSON-safe; ``arrays`` as :meth:`WindowCounts.to_dict`."""
        return {
            "dropped": self.dropped,
            "counts": {k: v.to_dict(arrays) for k, v in self.counts.items()},
        }

    @classmethod
    def from_dict(cls, cap: int, data: Mapping[str, Any]) -> SegmentSlices:
        slices = cls(cap)
        slices.dropped = int(data.get("dropped", 0))
        slices.counts = {k: WindowCounts.from_dict(v) for k, v in data.get("counts", {}).items()}
        return slices
