"""The KS p-value: ``ks_sf`` is ``scipy.stats.kstwo.sf``, number for number."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftd.detectors.ks import ks_sf


@settings(max_examples=400, deadline=None)
@given(
    st.floats(min_value=-0.5, max_value=1.5, allow_nan=False),
    st.integers(min_value=1, max_value=2_000_000),
)
def test_ks_sf_is_kstwo_sf(d: float, n: int) -> None:
    assert ks_sf(d, n) == float(stats.kstwo.sf(d, n))


def test_ks_sf_is_kstwo_sf_on_every_branch_and_at_the_support_ends() -> None:
    for n in (1, 2, 7, 140, 141, 1_000, 6_667, 100_000, 100_001, 10**7):
        ends = [0.5 / n, np.nextafter(0.5 / n, 1.0), 1.0 / n, 1.0, np.nextafter(1.0, 0.0)]
        for d in [*np.linspace(0.0, 1.0, 401).tolist(), *ends, 0.0, -0.1, 1.1]:
            assert ks_sf(d, n) == float(stats.kstwo.sf(d, n)), (d, n)


def test_ks_sf_of_an_effective_size_of_zero_is_kstwo_sf_not_an_error() -> None:
    """One window value against a one-value reference sample: round(1 * 1 / 2) is 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # kstwo.sf divides by n
        for d in (0.0, 0.5, 1.0):
            assert np.isnan(ks_sf(d, 0)) and np.isnan(stats.kstwo.sf(d, 0))


def test_ks_of_a_one_value_window_against_a_one_value_sample_does_not_fail() -> None:
    from driftd.detectors.base import ColumnWindow
    from driftd.detectors.ks import KSTest
    from driftd.detectors.profiles import NumericProfile
    from driftd.detectors.reference import reference_grid
    from driftd.detectors.window import grid_counts

    profile = NumericProfile("x", [0.0], [0.0, 1.0], [1.0], 1, 0.0, 1.0, 1.0, 1.0, 0.0)
    grid, _ = reference_grid(profile)
    window = ColumnWindow("x", 1, np.array([0, 1]), 0, 0, 1, grid_counts(grid, np.array([2.0])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        finding = KSTest().judge(profile, window)
    assert finding is not None and finding.value == 1.0
