"""grid_counts on small and large grids (values sorted first) against counting one by one."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from driftd.detectors.window import _SORT_FIRST, grid_counts


def one_by_one(grid: np.ndarray, values: np.ndarray) -> list[int]:
    cells = [0] * (2 * grid.size + 1)
    for x in values.tolist():
        below = int(np.sum(grid < x))
        cells[2 * below + int(below < grid.size and grid[below] == x)] += 1
    return cells


@given(
    size=st.sampled_from([1, 3, _SORT_FIRST - 1, _SORT_FIRST, 700]),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
)
def test_grid_counts_match_one_by_one(size: int, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.unique(rng.integers(0, 2 * size, size * 3).astype(np.float64))[:size]
    on_grid = rng.choice(grid, n)  # ties with grid points
    between = rng.uniform(-5, 2 * size + 5, n)  # between and outside
    values = np.where(rng.random(n) < 0.5, on_grid, between)
    assert grid_counts(grid, values).tolist() == one_by_one(grid, values)
