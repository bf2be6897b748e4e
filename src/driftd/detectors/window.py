"""Per-window bin counts of live events: vectorised, mergeable, checkpointable.

A :class:`Binner` turns a :class:`~driftd.batch.PredictionBatch` (or records,
converted to one) into :class:`WindowCounts` against the bins a
:class:`BaselineProfile` fixed: per monitored column, ``np.searchsorted`` +
``np.bincount`` on the batch's column (numeric), or ``pandas.factorize`` and
one lookup per distinct value (categorical). No per-event Python.

Bins per column:

* numeric: ``len(edges) + 1``, as in the baseline (bin ``i`` holds
  ``edges[i-1] <= x < edges[i]``);
* categorical: the baseline's top-K categories, then "other", then "unseen".
  A category outside the top K is "other" when the baseline kept no ``known``
  set or the category is in it, else "unseen" (never seen in training).

A value of the wrong type (a numeric feature sent as a string or bool, a
categorical one sent as a number) counts as a type mismatch, not in a bin; an
absent or null value counts as null. The prediction is monitored under
:data:`PREDICTION_KEY`: ``pred_num`` for a numeric baseline, ``pred_label``
for a categorical one. Numeric columns also count values outside the
baseline's ``[min, max]`` (``out_of_range``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftd.batch import PredictionBatch
from driftd.detectors.base import ColumnWindow
from driftd.detectors.bloom import BloomFilter
from driftd.detectors.latency import LATENCY_BINS, latency_bins
from driftd.detectors.profiles import (
    PREDICTION_KEY,
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
    Profile,
)
from driftd.detectors.psi import PSI_PSEUDOCOUNT, psi
from driftd.detectors.reference import aligned, reference_grid
from driftd.detectors.shares import Shares, bincount_by
from driftd.events import PredictionRecord

__all__ = ["PREDICTION_KEY", "Binner", "WindowCounts", "score_values", "window_psi"]

Counts = npt.NDArray[np.int64]
T = TypeVar("T")
_NAN = math.nan


@dataclass(eq=False)
class WindowCounts:
    """Bin counts, null and type-mismatch counts of one window, per monitored column.

    ``fingerprint`` names the baseline whose bins these are; only windows of the
    same baseline merge. ``first_ms``/``last_ms`` are the earliest and latest
    event timestamps (epoch ms; 0 while the window is empty).

    >>> w = WindowCounts("f", {"x": np.array([1, 2])}, {"x": 0}, {"x": 1}, {"x": 0}, n=4,
    ...                  first_ms=10, last_ms=20)
    >>> m = w.merge(w)
    >>> m.counts["x"].tolist(), m.mismatches, m.n
    ([2, 4], {'x': 2}, 8)
    >>> WindowCounts.from_dict(m.to_dict()) == m
    True
    """

    __hash__: ClassVar[None]  # type: ignore[assignment]

    fingerprint: str
    counts: dict[str, Counts]
    nulls: dict[str, int]
    mismatches: dict[str, int]
    out_of_range: dict[str, int]
    n: int = 0
    first_ms: int = 0
    last_ms: int = 0
    grids: dict[str, Counts] = field(default_factory=dict)
    latency: Counts = field(default_factory=lambda: np.zeros(LATENCY_BINS + 1, np.int64))

    def column(self, name: str) -> ColumnWindow:
        """One column of this window, as window tests see it."""
        return ColumnWindow(
            name=name,
            n=self.n,
            counts=self.counts[name],
            nulls=self.nulls[name],
            mismatches=self.mismatches[name],
            out_of_range=self.out_of_range.get(name, 0),
            grid=self.grids.get(name),
        )

    def merge(self, other: WindowCounts) -> WindowCounts:
        """A new window holding both; raises ``ValueError`` unless the bins agree."""
        same_shapes = self.counts.keys() == other.counts.keys() and all(
            self.counts[k].shape == other.counts[k].shape for k in self.counts
        )
        if other.fingerprint != self.fingerprint or not same_shapes:
            raise ValueError("cannot merge windows counted against different baselines")
        return WindowCounts(
            fingerprint=self.fingerprint,
            counts={k: v + other.counts[k] for k, v in self.counts.items()},
            nulls=_add(self.nulls, other.nulls),
            mismatches=_add(self.mismatches, other.mismatches),
            out_of_range=_add(self.out_of_range, other.out_of_range),
            n=self.n + other.n,
            first_ms=_span(min, self, other, self.first_ms, other.first_ms),
            last_ms=_span(max, self, other, self.last_ms, other.last_ms),
            grids={k: v + other.grids[k] for k, v in self.grids.items()},
            latency=self.latency + other.latency,
        )

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """A JSON-safe dict for checkpoints; with ``arrays`` its lists of counts are int64
        arrays instead (the same JSON from ``orjson``'s ``OPT_SERIALIZE_NUMPY``, without a
        Python int per count: a window's grids hold thousands of them)."""
        listed: Callable[[Counts], Any] = _same if arrays else _listed
        return {
            "fingerprint": self.fingerprint,
            "counts": {k: listed(v) for k, v in self.counts.items()},
            "nulls": dict(self.nulls),
            "mismatches": dict(self.mismatches),
            "out_of_range": dict(self.out_of_range),
            "n": self.n,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "grids": {k: _sparse(v, listed) for k, v in self.grids.items()},
            "latency": _sparse(self.latency, listed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowCounts:
        return cls(
            fingerprint=data["fingerprint"],
            counts={k: np.asarray(v, dtype=np.int64) for k, v in data["counts"].items()},
            nulls=dict(data["nulls"]),
            mismatches=dict(data["mismatches"]),
            out_of_range=dict(data["out_of_range"]),
            n=data["n"],
            first_ms=data["first_ms"],
            last_ms=data["last_ms"],
            grids={k: _dense(v) for k, v in data.get("grids", {}).items()},
            latency=_dense(data["latency"])
            if "latency" in data
            else np.zeros(LATENCY_BINS + 1, np.int64),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowCounts) and self.to_dict() == other.to_dict()


def _sparse(counts: Counts, listed: Callable[[Counts], Any]) -> dict[str, Any]:
    """Counts as ``{"size", "at", "count"}``: a grid of thousands of cells is mostly zeros."""
    at = np.flatnonzero(counts)
    return {"size": int(counts.size), "at": listed(at), "count": listed(counts[at])}


def _listed(counts: Counts) -> list[int]:
    out: list[int] = counts.tolist()
    return out


def _same(counts: Counts) -> Counts:
    """The array itself (orjson serialises C-contiguous arrays only: a copy otherwise)."""
    return np.ascontiguousarray(counts)


def _dense(data: dict[str, Any]) -> Counts:
    out = np.zeros(int(data["size"]), np.int64)
    out[np.asarray(data["at"], dtype=np.int64)] = np.asarray(data["count"], dtype=np.int64)
    return out


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: v + b.get(k, 0) for k, v in a.items()}


def _code(label: str | None, number: float | None) -> str | None:
    """A declared-categorical value: the string, or the number as its category name."""
    if label is not None or number is None:
        return label
    return str(int(number)) if number.is_integer() else str(number)


def _span(
    choose: Callable[[int, int], int], a: WindowCounts, b: WindowCounts, x: int, y: int
) -> int:
    return y if a.n == 0 else x if b.n == 0 else choose(x, y)


class _Numeric(NamedTuple):
    name: str
    edges: npt.NDArray[np.float64]
    low: float  # the baseline's min and max: outside is out of range
    high: float
    bins: int
    grid: npt.NDArray[np.float64]  # reference sample, edges, min and max: distinct, sorted
    cell_bin: npt.NDArray[np.int64]  # the decile bin of each grid cell (non-decreasing)
    inside: slice  # the cells from min to max (inclusive): outside is out of range
    bin_starts: npt.NDArray[np.int64]  # bin b holds cells bin_starts[b]..bin_starts[b + 1] - 1


class _Categorical(NamedTuple):
    name: str
    lookup: dict[str | None, int]  # None (absent) -> -1
    fallback: int  # "unseen" when the baseline knows every category, else "other"
    bins: int
    codes: bool  # numbers are categories too (declared categorical at baseline creation)
    seen: BloomFilter | None  # too many categories to list: which ones training saw


def _numeric(name: str, p: NumericProfile) -> _Numeric:
    edges = np.asarray(p.edges, dtype=np.float64)
    grid, _ = reference_grid(p)
    # cell 2i + 1 is grid[i]; cell 2i lies strictly between grid[i-1] and grid[i], where
    # no edge is (edges are grid points), so its bin is that of grid[i-1] (cell 0: below all)
    equal = np.searchsorted(edges, grid, side="right")
    between = np.concatenate([[np.searchsorted(edges, grid[0], side="left")], equal])
    cell_bin = np.empty(2 * grid.size + 1, np.int64)
    cell_bin[0::2], cell_bin[1::2] = between, equal
    low, high = np.searchsorted(grid, [p.min, p.max])
    inside = slice(2 * int(low) + 1, 2 * int(high) + 2)
    bins = len(edges) + 1
    # every bin holds a cell (bin 0 the one below the grid, bin i + 1 that of edges[i], a
    # grid point; edges increase strictly), so each bin's count is one np.add.reduceat span
    bin_starts = np.searchsorted(cell_bin, np.arange(bins), side="left")
    if (np.diff(bin_starts) <= 0).any() or bin_starts[-1] >= cell_bin.size:
        raise ValueError(f"column {name!r}: a bin holds no grid cell")
    return _Numeric(name, edges, p.min, p.max, bins, grid, cell_bin, inside, bin_starts)


def _categorical(name: str, p: CategoricalProfile) -> _Categorical:
    other = len(p.categories)
    lookup: dict[str | None, int] = dict.fromkeys(p.known or (), other)
    lookup.update((c, i) for i, c in enumerate(p.categories))
    lookup[None] = -1
    fallback = other if p.known is None else other + 1
    seen = None if p.seen is None else BloomFilter.from_dict(p.seen)
    return _Categorical(name, lookup, fallback, other + 2, p.numeric_codes, seen)


def _spec(name: str, p: Profile) -> _Numeric | _Categorical:
    return _numeric(name, p) if isinstance(p, NumericProfile) else _categorical(name, p)


class Binner:
    """Counts batches of prediction records into a baseline's bins.

    >>> import pandas as pd
    >>> from driftd.detectors.baseline import profile_dataframe
    >>> from driftd.events import parse_prediction
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000),
    ...                    "p": rng.random(1000)})
    >>> binner = Binner(profile_dataframe(df, "m", "v1", prediction="p"))
    >>> events = [{"model": "m", "features": {"x": float(x), "c": "z"}, "prediction": 0.5}
    ...           for x in rng.normal(size=200)]
    >>> w = binner.count([parse_prediction(e, received_ms=0) for e in events])
    >>> int(w.counts["x"].sum()), w.counts["c"].tolist(), w.n
    (200, [0, 0, 0, 200], 200)
    >>> sorted(window_psi(binner.profile, w))
    ['__prediction__', 'c', 'x']
    """

    def __init__(self, profile: BaselineProfile) -> None:
        self.profile = profile
        self.fingerprint = profile.fingerprint
        self._features = [_spec(name, p) for name, p in profile.features.items()]
        pred = profile.prediction
        self._prediction = None if pred is None else _spec(PREDICTION_KEY, pred)
        self._probabilities = [
            (label, _numeric(p.name, p))
            for label, p in profile.probabilities.items()
            if isinstance(p, NumericProfile)
        ]

    def empty(self) -> WindowCounts:
        """A window with no events, to merge batches into."""
        specs = [
            *self._features,
            *([self._prediction] if self._prediction else []),
            *(spec for _, spec in self._probabilities),
        ]
        return WindowCounts(
            fingerprint=self.fingerprint,
            counts={s.name: np.zeros(s.bins, np.int64) for s in specs},
            nulls={s.name: 0 for s in specs},
            mismatches={s.name: 0 for s in specs},
            out_of_range={s.name: 0 for s in specs if isinstance(s, _Numeric)},
            grids={
                s.name: np.zeros(2 * s.grid.size + 1, np.int64)
                for s in specs
                if isinstance(s, _Numeric)
            },
        )

    def count(self, records: Sequence[PredictionRecord]) -> WindowCounts:
        """Count one batch of records: :meth:`count_batch` of their columns."""
        return self.count_batch(PredictionBatch.from_records(records))

    def count_batch(self, batch: PredictionBatch) -> WindowCounts:
        """Count one batch of columns (features absent from the baseline are ignored):
        :meth:`count_chunks` of one share."""
        return self.count_chunks(batch, [len(batch)])[0]

    def count_chunks(self, batch: PredictionBatch, ends: Sequence[int]) -> list[WindowCounts]:
        """Count consecutive shares of one batch: rows ``ends[i - 1]:ends[i]`` (from row 0;
        non-decreasing, the last ``len(batch)``; a share may be empty), one window each.

        The same windows as :meth:`count_batch` of each share, with most numpy calls
        made once for the whole batch: per monitored column, the masks of absent and
        mismatched values and their totals per share (``np.add.reduceat``), one lookup per
        distinct value and one ``bincount`` of ``share * bins + bin`` (categorical); a
        numeric column's grid is counted share by share (:func:`grid_counts`: a sort and
        two searches each), each share's grid an array of its own. No per-event Python.
        """
        n = len(batch)
        shares = Shares(ends, n)
        if n == 0:
            return [self.empty() for _ in range(shares.count)]
        tally = _Tally(shares)
        nums, cats = batch.num, batch.cat
        for spec in self._features:
            name = spec.name
            if isinstance(spec, _Numeric):
                missing = tally.numeric(spec, nums.get(name, _nans(n)))
                other = cats.get(name)
                tally.missing(name, missing, None if other is None else missing & _present(other))
            else:
                labels = cats.get(name)
                number = nums.get(name)
                if spec.codes and number is not None:
                    labels = _with_codes(_nones(n) if labels is None else labels, number)
                missing = tally.categorical(spec, _nones(n) if labels is None else labels)
                tally.missing(
                    name, missing, None if number is None else missing & ~np.isnan(number)
                )
        has_proba = _has_proba(batch)
        if self._prediction is not None:
            self._count_prediction(tally, self._prediction, batch, has_proba)
        for label, spec in self._probabilities:
            missing = tally.numeric(spec, batch.pred_proba.get(label, _nans(n)))
            tally.missing(spec.name, missing, missing & ~has_proba)
        return tally.windows(self.fingerprint, batch)

    @staticmethod
    def _count_prediction(
        tally: _Tally,
        spec: _Numeric | _Categorical,
        batch: PredictionBatch,
        has_proba: npt.NDArray[np.bool_],
    ) -> None:
        if isinstance(spec, _Numeric):
            # class probabilities are not a score: the top one is no stand-in for it
            missing = tally.numeric(spec, score_values(batch, has_proba))
            wrong = missing & ((batch.pred_label != "") | has_proba)
        else:
            labels = batch.pred_label.copy()
            labels[labels == ""] = None
            missing = tally.categorical(spec, labels)
            wrong = missing & ~np.isnan(batch.pred_num)
        tally.missing(PREDICTION_KEY, missing, wrong)


class _Tally:
    """The counts of every share of one batch, per column: row ``i`` of each is share ``i``."""

    def __init__(self, shares: Shares) -> None:
        self.shares = shares
        self.counts: dict[str, list[Counts]] = {}
        self.nulls: dict[str, list[int]] = {}
        self.mismatches: dict[str, list[int]] = {}
        self.out_of_range: dict[str, list[int]] = {}
        self.grids: dict[str, list[Counts]] = {}

    def numeric(self, spec: _Numeric, values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Bin ``values`` (NaN = absent); returns where they are absent."""
        shares = self.shares
        absent = np.isnan(values)
        keep = ~absent
        present = values[keep]
        counted = shares.total(keep)
        ends = np.cumsum(counted).tolist()
        # one search per share: KS, deciles, range (a grid has up to ~10,000 cells: one
        # array per share, not a (shares x cells) one, which would be allocated afresh)
        grids = [grid_counts(spec.grid, present[a:b]) for a, b in itertools.pairwise([0, *ends])]
        self.grids[spec.name] = grids
        # cells are in bin order: a bin's count is the sum of its span of cells
        self.counts[spec.name] = [np.add.reduceat(cells, spec.bin_starts) for cells in grids]
        inside = [int(cells[spec.inside].sum()) for cells in grids]
        self.out_of_range[spec.name] = (counted - inside).tolist()
        return absent

    def categorical(
        self, spec: _Categorical, labels: npt.NDArray[np.object_]
    ) -> npt.NDArray[np.bool_]:
        """Bin ``labels`` (``None`` = absent); returns where they are absent."""
        codes, uniques = pd.factorize(labels, use_na_sentinel=True)
        get, fallback = spec.lookup.get, spec.fallback
        if spec.seen is None:
            bins = [get(x, fallback) for x in uniques]
        else:  # outside the top K: other if training saw it, else unseen
            seen, unseen = spec.seen, fallback + 1
            bins = [get(x, fallback if x in seen else unseen) for x in uniques]
        absent = codes < 0
        keep = ~absent
        mapped = np.asarray(bins, dtype=np.int64)[codes[keep]]
        shares = self.shares
        self.counts[spec.name] = list(bincount_by(mapped, spec.bins, shares.of(keep), shares.count))
        return absent

    def missing(
        self, name: str, missing: npt.NDArray[np.bool_], wrong: npt.NDArray[np.bool_] | None
    ) -> None:
        """Absent values: ``wrong`` of them type mismatches (``None``: none), the rest nulls."""
        shares = self.shares
        mismatches = np.zeros(shares.count, np.int64) if wrong is None else shares.total(wrong)
        self.mismatches[name] = mismatches.tolist()
        self.nulls[name] = (shares.total(missing) - mismatches).tolist()

    def windows(self, fingerprint: str, batch: PredictionBatch) -> list[WindowCounts]:
        """One window a share (an empty share's holds zeros, as :meth:`Binner.empty`)."""
        shares = self.shares
        latency = latency_bins(batch.latency_ms, shares)  # one row a share
        first = shares.reduce(np.minimum, batch.timestamp_ms).tolist()
        last = shares.reduce(np.maximum, batch.timestamp_ms).tolist()

        def at(columns: dict[str, list[T]], i: int) -> dict[str, T]:
            return {k: v[i] for k, v in columns.items()}

        return [
            WindowCounts(
                fingerprint=fingerprint,
                counts=at(self.counts, i),
                nulls=at(self.nulls, i),
                mismatches=at(self.mismatches, i),
                out_of_range=at(self.out_of_range, i),
                n=size,
                first_ms=first[i],
                last_ms=last[i],
                grids=at(self.grids, i),
                latency=latency[i],
            )
            for i, size in enumerate(shares.sizes.tolist())
        ]


def score_values(
    batch: PredictionBatch, has_proba: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.float64]:
    """The numeric prediction per event; NaN when absent or when class probabilities
    were sent (a score and probabilities are not the same quantity)."""
    if has_proba is None:
        has_proba = _has_proba(batch)
    return np.where(has_proba, _NAN, batch.pred_num)


def _has_proba(batch: PredictionBatch) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(batch), dtype=np.bool_)
    for column in batch.pred_proba.values():
        out |= ~np.isnan(column)
    return out


def _nans(n: int) -> npt.NDArray[np.float64]:
    return np.full(n, _NAN)


def _nones(n: int) -> npt.NDArray[np.object_]:
    return np.full(n, None, dtype=object)


def _present(labels: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    present: npt.NDArray[np.bool_] = labels != None  # noqa: E711 (elementwise)
    return present


def _with_codes(
    labels: npt.NDArray[np.object_], numbers: npt.NDArray[np.float64]
) -> npt.NDArray[np.object_]:
    """Labels, with each number where no label is written as its category name."""
    fill = np.flatnonzero((labels == None) & ~np.isnan(numbers))  # noqa: E711
    if fill.size == 0:
        return labels
    out = labels.copy()
    values, where = np.unique(numbers[fill], return_inverse=True)
    names = np.empty(values.size, dtype=object)
    names[:] = [_code(None, float(v)) for v in values]
    out[fill] = names[where]
    return out


_SORT_FIRST = 256  # grid points from which sorting the values first pays


def grid_counts(grid: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> Counts:
    """Values counted on a sorted grid of distinct points: ``2 * len(grid) + 1`` cells.

    Cell ``2i`` holds values strictly between ``grid[i-1]`` and ``grid[i]``,
    cell ``2i + 1`` values equal to ``grid[i]``; the cumulative sum at cell
    ``2i`` is then ``#(x < grid[i])`` and at ``2i + 1`` ``#(x <= grid[i])``.

    The counts do not depend on the values' order. When the values outnumber the
    cells, they are sorted and the grid is searched in them (two searches per grid
    point, no count per value); otherwise, on a large grid (a KS grid has up to
    ~5,000 points), they are sorted first too: ``searchsorted`` of sorted values into
    a large grid is about twice as fast as of values in arrival order.

    >>> grid_counts(np.array([1.0, 2.0]), np.array([0.5, 1.0, 1.5, 2.0, 2.0, 3.0])).tolist()
    [1, 1, 1, 2, 1]
    """
    if values.size > 2 * grid.size:
        ordered = np.sort(values)
        bounds = np.empty(2 * grid.size + 2, np.int64)
        bounds[0], bounds[-1] = 0, values.size
        bounds[1:-1:2] = np.searchsorted(ordered, grid, side="left")  # #(x < grid[i])
        bounds[2:-1:2] = np.searchsorted(ordered, grid, side="right")  # #(x <= grid[i])
        cells: Counts = np.diff(bounds)
        return cells
    if grid.size >= _SORT_FIRST:
        values = np.sort(values)
    at = np.searchsorted(grid, values, side="left")
    equal = grid[np.minimum(at, grid.size - 1)] == values
    return np.bincount(2 * at + equal, minlength=2 * grid.size + 1)


def window_psi(
    profile: BaselineProfile, counts: WindowCounts, *, pseudocount: float = PSI_PSEUDOCOUNT
) -> dict[str, float]:
    """PSI per feature, and under ``__prediction__`` when the baseline profiles it.

    A column with no values in the window (all null or mismatched) is left out:
    there is nothing to judge, and its null and mismatch counts say why.
    """
    if counts.fingerprint != profile.fingerprint:
        raise ValueError("the window was counted against a different baseline")
    columns: dict[str, Profile] = dict(profile.features)
    if profile.prediction is not None:
        columns[PREDICTION_KEY] = profile.prediction
    result: dict[str, float] = {}
    for name, p in columns.items():
        expected, actual = aligned(p, counts.column(name))
        if actual.any():
            result[name] = psi(expected, actual, expected_count=p.count, pseudocount=pseudocount)
    return result
