"""Bounded streaming summaries behind baseline profiling.

Each summary gives the same answer however its input is cut into chunks, so a
baseline does not depend on the chunk size nor on where the rows came from
(CSV, Parquet or a DataFrame), and its fingerprint is stable:

* :class:`ExactSum` — the exact sum of float64 values (no rounding until read);
* :class:`BottomKSample` — a seeded uniform sample without replacement: the
  values whose row numbers hash to the smallest keys (a reservoir sample that
  does not depend on arrival order within the stream's chunks);
* :class:`HeavyHitters` — category counts in a bounded dictionary, exact until
  it overflows, then Misra-Gries.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

__all__ = ["BottomKSample", "ExactSum", "HeavyHitters", "splitmix64"]

FloatArray = npt.NDArray[np.float64]

_SCALE = 1126  # 2**-1126 is below the smallest mantissa unit (2**-1074 / 2**52)
_PIECE = 1 << 20  # |26-bit half| * 2**20 values < 2**53: float64 bincount sums stay exact
_LOW_BITS = 26
_LOW_MASK = (1 << _LOW_BITS) - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(index: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.uint64]:
    """The ``index``-th outputs of a SplitMix64 generator seeded with ``seed``.

    >>> splitmix64(np.arange(2), seed=0).tolist()
    [16294208416658607535, 7960286522194355700]
    """
    state = (index.astype(np.uint64) + np.uint64(1)) * _GAMMA + np.uint64(seed % 2**64)
    state = (state ^ (state >> np.uint64(30))) * _MIX1
    state = (state ^ (state >> np.uint64(27))) * _MIX2
    return state ^ (state >> np.uint64(31))


class ExactSum:
    """The exact sum of finite float64 values, held as an integer multiple of 2**-1126.

    >>> s = ExactSum()
    >>> s.add(np.array([1e16, 1.0, -1e16]))
    >>> s.value(), s.mean(3)
    (1.0, 0.3333333333333333)
    """

    def __init__(self) -> None:
        self._scaled = 0

    def add(self, values: FloatArray) -> None:
        for start in range(0, len(values), _PIECE):
            self._add(values[start : start + _PIECE])

    def _add(self, values: FloatArray) -> None:
        mantissa, exponent = np.frexp(values)
        whole = np.ldexp(mantissa, 53).astype(np.int64)  # exact: 53-bit significands
        shift = exponent.astype(np.int64) + (_SCALE - 53)
        high = np.bincount(shift, weights=whole >> _LOW_BITS)
        low = np.bincount(shift, weights=whole & _LOW_MASK)
        for bit in np.flatnonzero((high != 0) | (low != 0)).tolist():
            self._scaled += ((int(high[bit]) << _LOW_BITS) + int(low[bit])) << bit

    def merge(self, other: ExactSum) -> None:
        self._scaled += other._scaled

    def value(self) -> float:
        """The sum, rounded once."""
        return self._scaled / (1 << _SCALE)

    def mean(self, count: int) -> float:
        """The sum divided by ``count``, rounded once."""
        return self._scaled / (count << _SCALE)


class BottomKSample:
    """A seeded uniform sample of at most ``size`` values, independent of chunking.

    Each value is keyed by a hash of its row number; the sample is the ``size``
    values with the smallest keys. Memory stays under ``2 * size`` values.

    >>> s = BottomKSample(size=3, seed=7)
    >>> s.add(np.arange(10.0), np.arange(10))
    >>> t = BottomKSample(size=3, seed=7)
    >>> for lo in range(0, 10, 4):
    ...     t.add(np.arange(10.0)[lo : lo + 4], np.arange(lo, min(lo + 4, 10)))
    >>> s.values().tolist() == t.values().tolist(), len(s.values())
    (True, 3)
    """

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self.seed = seed
        self._keys: npt.NDArray[np.uint64] = np.empty(0, np.uint64)
        self._values: FloatArray = np.empty(0, np.float64)

    def add(self, values: FloatArray, rows: npt.NDArray[np.int64]) -> None:
        """Offer ``values`` observed at global row numbers ``rows``."""
        self._keys = np.concatenate([self._keys, splitmix64(rows, self.seed)])
        self._values = np.concatenate([self._values, values])
        if len(self._keys) > 2 * self.size:
            self._prune()

    def _prune(self) -> None:
        if len(self._keys) > self.size:
            keep = np.argpartition(self._keys, self.size - 1)[: self.size]
            self._keys, self._values = self._keys[keep], self._values[keep]

    def values(self, size: int | None = None) -> FloatArray:
        """The values of the ``size`` (default: all kept) smallest keys, sorted ascending."""
        self._prune()
        order = np.argsort(self._keys, kind="stable")[: self.size if size is None else size]
        return np.sort(self._values[order])


class HeavyHitters:
    """Counts per category in at most ``capacity`` entries (Misra-Gries beyond that).

    ``compact()`` is called at fixed row boundaries, so the result does not
    depend on how the rows were chunked. While :attr:`exact`, the counts are exact.

    >>> h = HeavyHitters(capacity=2)
    >>> h.add({"a": 5, "b": 3})
    >>> h.add({"c": 1, "a": 1})
    >>> h.compact()
    >>> h.exact, h.top(2)
    (False, ['a', 'b'])
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.exact = True
        self._counts: dict[str, int] = {}

    def add(self, counts: Mapping[str, int]) -> None:
        mine = self._counts
        for key, count in counts.items():
            mine[key] = mine.get(key, 0) + count

    def compact(self) -> None:
        """Keep at most ``capacity`` entries: subtract the next-largest count from all."""
        if len(self._counts) <= self.capacity:
            return
        cut = sorted(self._counts.values(), reverse=True)[self.capacity]
        self._counts = {k: c - cut for k, c in self._counts.items() if c > cut}
        self.exact = False

    def keys(self) -> list[str]:
        return sorted(self._counts)

    def top(self, k: int) -> list[str]:
        """The ``k`` largest, ties broken by category."""
        ranked = sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
        return [key for key, _ in ranked[:k]]
