"""The KS p-value: ``ks_sf`` is ``scipy.stats.kstwo.sf``, number for number, except in
the Smirnov tail, which numpy sums (``smirnov_sf``): there it is equal to 1e-9 relative."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from driftd.detectors.ks import ks_sf, smirnov_sf


def _in_tail(d: float, n: int) -> bool:
    """Where ``ks_sf`` sums the tail itself instead of calling scipy's ``_kolmogn``."""
    return 140 < n <= 100_000 and 0.5 / n < d < 0.5 and n * d > 1 and n * d * d >= 2.2


def _same(d: float, n: int) -> None:
    ours, scipy_sf = ks_sf(d, n), float(stats.kstwo.sf(d, n))
    if _in_tail(d, n):
        assert np.isclose(ours, scipy_sf, rtol=1e-9, atol=1e-300), (d, n, ours, scipy_sf)
    else:
        assert ours == scipy_sf, (d, n)


@settings(max_examples=400, deadline=None)
@given(
    st.floats(min_value=-0.5, max_value=1.5, allow_nan=False),
    st.integers(min_value=1, max_value=2_000_000),
)
def test_ks_sf_is_kstwo_sf(d: float, n: int) -> None:
    _same(d, n)


def test_ks_sf_is_kstwo_sf_on_every_branch_and_at_the_support_ends() -> None:
    for n in (1, 2, 7, 140, 141, 1_000, 6_667, 100_000, 100_001, 10**7):
        ends = [0.5 / n, np.nextafter(0.5 / n, 1.0), 1.0 / n, 1.0, np.nextafter(1.0, 0.0)]
        for d in [*np.linspace(0.0, 1.0, 401).tolist(), *ends, 0.0, -0.1, 1.1]:
            _same(d, n)


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


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=20_000), st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_smirnov_sf_is_scipys_smirnov(n: int, d: float) -> None:
    expected = special.smirnov(n, d)
    assert np.isclose(smirnov_sf(n, d), expected, rtol=1e-9, atol=1e-300), (n, d, expected)


def test_smirnov_sf_where_the_last_term_is_zero_and_across_the_tail() -> None:
    """``n (1 - d)`` a whole number (the last term's base is 0), and the tail's range
    of ``n d**2`` for the sizes a window meets (the KS sample is 5,000 by default)."""
    for n in (141, 1_000, 4_999, 6_667, 50_000):
        for d in [*np.sqrt(np.linspace(2.2, 370.0, 40) / n).tolist(), 1 - 100 / n, 0.25]:
            if 0 < d < 1:
                expected = special.smirnov(n, d)
                assert np.isclose(smirnov_sf(n, d), expected, rtol=1e-9, atol=1e-300), (n, d)


def test_a_drifted_column_p_value_takes_the_summed_tail() -> None:
    """The branch exists: a D in the tail is computed by smirnov_sf, not by scipy."""
    n, d = 6_667, 0.03
    assert _in_tail(d, n)
    assert ks_sf(d, n) == min(2.0 * smirnov_sf(n, d), 1.0)


def test_ks_sf_of_a_large_effective_size_is_kstwo_sf_to_1e_9() -> None:
    """Summed in numpy, ``log C(n, j)`` from ``gammaln`` loses ~``eps * n log n``:
    past ``n = 100,000`` that is more than 1e-9 relative, so scipy sums those."""
    for n, d in ((693_935, 0.002632326458810355), (821_347, 0.020333355539276378)):
        expected = float(stats.kstwo.sf(d, n))
        assert np.isclose(ks_sf(d, n), expected, rtol=1e-9, atol=0), (n, d, expected)
    n, d = 95_859, 0.043700670120473996  # the largest error seen below the cutoff: 2.6e-10
    assert _in_tail(d, n)
    assert np.isclose(ks_sf(d, n), stats.kstwo.sf(d, n), rtol=1e-9, atol=0)
