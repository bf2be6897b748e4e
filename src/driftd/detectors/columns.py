"""How one column of training data is summarised across the two profiling passes.

Pass 1 (``scan``) sees every value once; ``fix`` then fixes the bins; pass 2
(``tally``) counts exactly against them; ``profile`` gives the column's
profile. A numeric column keeps an exact sum, min and max, and a seeded
bottom-k sample (the quantile sample, whose first ``sample_size`` values by key
are the KS sample); its edges are quantiles of that sample, exact when the
column fits in it. A categorical column keeps its counts in a bounded
dictionary, compacted only at fixed row numbers.

Type rule: a column is numeric when its pandas dtype is integer or float;
anything else (bool, string, object, category, datetime) is categorical, its
values as strings, booleans as ``"true"``/``"false"`` like live events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype

from driftd.detectors.bloom import BloomFilter
from driftd.detectors.profiles import CategoricalProfile, NumericProfile, Profile
from driftd.detectors.sketches import BottomKSample, ExactSum, HeavyHitters
from driftd.errors import BaselineError

__all__ = ["ColumnSummary", "MixedTypesError", "ProfileOptions", "is_numeric_dtype"]


@dataclass(frozen=True)
class ProfileOptions:
    """How columns are summarised.

    >>> ProfileOptions(bins=4).quantiles().tolist()
    [0.25, 0.5, 0.75]
    """

    bins: int = 10
    top_k: int = 50
    known_cap: int = 1_000
    sample_size: int = 5_000
    quantile_sample: int = 100_000
    seed: int = 0
    categorical: frozenset[str] = frozenset()
    """Columns profiled as categorical whatever their dtype (numeric codes, say)."""
    probabilities: tuple[tuple[str, str], ...] = ()
    """(class label, column) pairs: the columns holding each class's predicted probability."""

    def __post_init__(self) -> None:
        for name, low in (("bins", 2), ("top_k", 1), ("known_cap", 0), ("sample_size", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if self.quantile_sample < self.sample_size:
            raise ValueError("quantile_sample must be >= sample_size")

    def quantiles(self) -> npt.NDArray[np.float64]:
        return np.arange(1, self.bins) / self.bins

    @property
    def category_capacity(self) -> int:
        return max(2 * self.known_cap, 20 * self.top_k)


def is_numeric_dtype(dtype: Any) -> bool:
    """The type rule: integer and float dtypes are numeric; bool is not."""
    return not is_bool_dtype(dtype) and (is_integer_dtype(dtype) or is_float_dtype(dtype))


def _category(value: object) -> str:
    """A value as a category: ``"true"``/``"false"``, integral numbers without ``.0``.

    >>> [_category(v) for v in (True, 3, 3.0, np.float64(2.5), "x")]
    ['true', '3', '3', '2.5', 'x']
    """
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _category_counts(series: pd.Series[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value, count in series.value_counts(dropna=True, sort=False).items():
        if count:
            key = _category(value)
            counts[key] = counts.get(key, 0) + int(count)
    return counts


class MixedTypesError(BaselineError):
    """Numbers in some chunks of a column, text in others (CSV): ``column`` names it."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} mixes numeric and non-numeric values")


class _Numeric:
    def __init__(self, name: str, options: ProfileOptions) -> None:
        self.name, self.options = name, options
        self.count = 0
        self._min, self._max = math.inf, -math.inf
        self._sum, self._squares = ExactSum(), ExactSum()
        self._sample = BottomKSample(options.quantile_sample, options.seed)
        self._edges = np.empty(0)
        self._mean = 0.0
        self.bins = np.zeros(0, np.int64)

    def _values(self, series: pd.Series[Any]) -> npt.NDArray[np.float64]:
        values: npt.NDArray[np.float64] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values[~np.isnan(values)]

    def scan(self, series: pd.Series[Any], first_row: int) -> None:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        rows = np.flatnonzero(~np.isnan(values))
        values = values[rows]
        if not np.isfinite(values).all():
            raise BaselineError(f"column {self.name!r} holds infinite values")
        self.count += len(values)
        self._min = min(self._min, float(values.min()))
        self._max = max(self._max, float(values.max()))
        self._sum.add(values)
        self._sample.add(values, rows + first_row)

    def compact(self) -> None:
        """Nothing to do: the sample bounds itself."""

    def fix(self) -> None:
        self._edges = np.unique(np.quantile(self._sample.values(), self.options.quantiles()))
        self._mean = self._sum.mean(self.count)
        self.bins = np.zeros(len(self._edges) + 1, np.int64)

    def tally(self, series: pd.Series[Any]) -> None:
        values = self._values(series)
        self.bins += np.bincount(
            np.searchsorted(self._edges, values, side="right"), minlength=len(self.bins)
        )
        with np.errstate(over="ignore"):
            squares = (values - self._mean) ** 2
        if not np.isfinite(squares).all():
            raise BaselineError(f"column {self.name!r} is too large for float64 variance")
        self._squares.add(squares)

    def profile(self, null_rate: float) -> NumericProfile:
        return NumericProfile(
            name=self.name,
            edges=self._edges.tolist(),
            proportions=(self.bins / self.count).tolist(),
            sample=self._sample.values(self.options.sample_size).tolist(),
            count=self.count,
            null_rate=null_rate,
            min=self._min,
            max=self._max,
            mean=self._mean,
            std=math.sqrt(self._squares.mean(self.count - 1)) if self.count > 1 else 0.0,
        )


class _Categorical:
    def __init__(self, name: str, options: ProfileOptions) -> None:
        self.name, self.options = name, options
        self.count = 0
        self._hitters = HeavyHitters(options.category_capacity)
        self._index: dict[str, int] = {}
        self._known: list[str] | None = None
        self.bins = np.zeros(0, np.int64)
        self.numeric_codes = False
        self._seen: BloomFilter | None = None

    def scan(self, series: pd.Series[Any], first_row: int) -> None:
        self.numeric_codes = self.numeric_codes or is_numeric_dtype(series.dtype)
        counts = _category_counts(series)
        self.count += sum(counts.values())
        self._hitters.add(counts)

    def compact(self) -> None:
        self._hitters.compact()

    def fix(self) -> None:
        self._hitters.compact()
        top = self._hitters.top(self.options.top_k)
        self._index = {category: i for i, category in enumerate(top)}
        keys = self._hitters.keys()
        fits = self._hitters.exact and len(keys) <= self.options.known_cap
        self._known = keys if fits else None
        self._seen = None if fits else BloomFilter()
        self.bins = np.zeros(len(top) + 1, np.int64)

    def tally(self, series: pd.Series[Any]) -> None:
        other = len(self.bins) - 1
        counts = _category_counts(series)
        for category, count in counts.items():
            self.bins[self._index.get(category, other)] += count
        if self._seen is not None:
            self._seen.add_many(counts)

    def profile(self, null_rate: float) -> CategoricalProfile:
        return CategoricalProfile(
            name=self.name,
            categories=list(self._index),
            proportions=(self.bins / self.count).tolist(),
            known=self._known,
            count=self.count,
            null_rate=null_rate,
            numeric_codes=self.numeric_codes,
            seen=None if self._seen is None else self._seen.to_dict(),
        )


class ColumnSummary:
    """One column across both passes: its null count, and a summary of the kind
    its first non-null values show (numeric or categorical).

    >>> column = ColumnSummary("x", ProfileOptions(bins=2))
    >>> column.scan(pd.Series([1.0, None, 3.0, 4.0]), first_row=0)
    >>> column.fix()
    >>> column.tally(pd.Series([1.0, None, 3.0, 4.0]))
    >>> p = column.profile(n_rows=4)
    >>> p.edges, p.proportions, p.null_rate, p.mean
    ([3.0], [0.3333333333333333, 0.6666666666666666], 0.25, 2.6666666666666665)
    """

    def __init__(self, name: str, options: ProfileOptions) -> None:
        self.name, self.options = name, options
        self.nulls = 0
        self.summary: _Numeric | _Categorical | None = None

    def scan(self, series: pd.Series[Any], first_row: int) -> None:
        nulls = int(series.isna().sum())
        self.nulls += nulls
        if nulls == len(series):
            return
        numeric = is_numeric_dtype(series.dtype) and self.name not in self.options.categorical
        kind = _Numeric if numeric else _Categorical
        if self.summary is None:
            self.summary = kind(self.name, self.options)
        elif not isinstance(self.summary, kind):
            raise MixedTypesError(self.name)
        self.summary.scan(series, first_row)

    def compact(self) -> None:
        if self.summary is not None:
            self.summary.compact()

    def fix(self) -> None:
        """End of pass 1: fix the bins; raise if the column held no value."""
        if self.summary is None:
            raise BaselineError(f"column {self.name!r} is entirely null")
        self.summary.fix()

    def tally(self, series: pd.Series[Any]) -> None:
        assert self.summary is not None  # fix() ran
        self.summary.tally(series)

    def profile(self, n_rows: int) -> Profile:
        assert self.summary is not None  # fix() ran
        if self.summary.count != int(self.summary.bins.sum()):
            raise BaselineError(f"column {self.name!r} changed between the two passes")
        return self.summary.profile(self.nulls / n_rows)
