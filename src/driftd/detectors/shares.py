"""A batch cut into consecutive shares, counted in one pass.

Share ``i`` of a batch of ``n`` rows is rows ``ends[i - 1]:ends[i]`` (the first
starts at row 0, the last ends at row ``n``; a share may be empty). Counting
every share at once, with one numpy call over the whole batch instead of one per
share, gives the same integers as counting each share alone: a histogram of all
shares is one ``np.bincount`` over ``share * width + cell``, a total per share one
``np.add.reduceat``.

>>> shares = Shares([2, 2, 5], 5)
>>> shares.sizes.tolist(), shares.total(np.array([1, 0, 1, 1, 0], bool)).tolist()
([2, 0, 3], [1, 0, 2])
>>> bincount_by(np.array([0, 1, 1, 2]), 3, shares.of(np.array([1, 1, 0, 1, 1], bool)), 3)
array([[1, 1, 0],
       [0, 0, 0],
       [0, 1, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Shares", "bincount_by"]

Ints = npt.NDArray[np.int64]


class Shares:
    """Consecutive shares of ``n`` rows, ending at ``ends`` (non-decreasing, the last ``n``).

    ``rows`` is the share of every row, ``None`` when there is one share (every row
    is share 0: nothing to tell apart, nothing to compute).
    """

    def __init__(self, ends: Sequence[int] | Ints, n: int) -> None:
        edges = np.zeros(len(ends) + 1, np.int64)
        edges[1:] = ends
        sizes = np.diff(edges)
        if edges.size < 2 or edges[-1] != n or (sizes < 0).any():
            raise ValueError(f"shares must end in order at the batch's end ({n}), got {ends}")
        self.count = int(sizes.size)
        self.sizes: Ints = sizes
        self._filled = sizes > 0
        self._starts = edges[:-1][self._filled]  # the first row of each non-empty share
        self.rows: Ints | None = (
            None if self.count == 1 else np.repeat(np.arange(self.count, dtype=np.int64), sizes)
        )

    def of(self, keep: npt.NDArray[np.bool_]) -> Ints | None:
        """The share of each row ``keep`` selects (``None`` when there is one share)."""
        return None if self.rows is None else self.rows[keep]

    def total(self, mask: npt.NDArray[np.bool_]) -> Ints:
        """How many rows of each share ``mask`` holds."""
        if self.rows is None:
            return np.array([np.count_nonzero(mask)], np.int64)
        return self.reduce(np.add, mask)

    def reduce(self, ufunc: np.ufunc, values: npt.NDArray[np.generic]) -> Ints:
        """``ufunc`` reduced over each share's rows (int64; 0 for an empty share)."""
        out = np.zeros(self.count, np.int64)
        if self._starts.size:
            out[self._filled] = ufunc.reduceat(values, self._starts, dtype=np.int64)
        return out


def bincount_by(cells: Ints, width: int, groups: Ints | None, count: int) -> Ints:
    """Counts of ``cells`` (each in ``0 .. width - 1``) per group: shape ``(count, width)``.

    ``groups`` holds each cell's group (``0 .. count - 1``); ``None``: all are group 0.
    """
    if groups is None:
        return np.bincount(cells, minlength=width).reshape(1, width)
    out: Ints = np.bincount(groups * width + cells, minlength=count * width)
    return out.reshape(count, width)
