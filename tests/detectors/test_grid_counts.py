"""grid_counts against counting one by one: small and large grids, values outnumbering
the cells (the grid searched in the sorted values) or not."""

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
    size=st.sampled_from([1, 3, 20, 149, 150, _SORT_FIRST - 1, _SORT_FIRST, 700]),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 600),
)
def test_grid_counts_match_one_by_one(size: int, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.unique(rng.integers(0, 2 * size, size * 3).astype(np.float64))[:size]
    on_grid = rng.choice(grid, n)  # ties with grid points
    between = rng.uniform(-5, 2 * size + 5, n)  # between and outside
    values = np.where(rng.random(n) < 0.5, on_grid, between)
    assert grid_counts(grid, values).tolist() == one_by_one(grid, values)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40))
def test_grid_counts_of_infinities_and_signed_zeros_either_way(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    grid = np.array([-1.0, 0.0, 2.5])
    values = rng.choice([-np.inf, np.inf, -0.0, 0.0, -1.0, 2.5, 1.0, 7.0], n)
    assert grid_counts(grid, values).tolist() == one_by_one(grid, values)  # n > 6: sorted
