"""The KS p-value: ``ks_sf`` is ``scipy.stats.kstwo.sf``, number for number, except in
the Smirnov tail, which numpy sums (``smirnov_sf``), and in the body for ``n > 140``, where
scipy's Durbin matrix and Pelz-Good series are ported (``durbin_cdf``, ``pelz_good_cdf``):
there it is equal to 1e-9 relative."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.stats._ksstats import _kolmogn_DMTW, _kolmogn_PelzGood

from driftd.detectors.ks import durbin_cdf, ks_sf, pelz_good_cdf, smirnov_sf


def _in_tail(d: float, n: int) -> bool:
    """Where ``ks_sf`` sums the tail itself instead of calling scipy's ``_kolmogn``."""
    return 140 < n <= 100_000 and 0.5 / n < d < 0.5 and n * d > 1 and n * d * d >= 2.2


def _in_body(d: float, n: int) -> bool:
    """Where ``ks_sf`` is 1 - ``durbin_cdf`` or ``pelz_good_cdf``, not scipy's ``_kolmogn``."""
    return n > 140 and 0.5 / n < d < 0.5 and n * d > 1 and n * d * d < 2.2


def _same(d: float, n: int) -> None:
    ours, scipy_sf = ks_sf(d, n), float(stats.kstwo.sf(d, n))
    if _in_tail(d, n) or _in_body(d, n):
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


def _close(ours: float, theirs: float) -> bool:
    return bool(np.isclose(ours, theirs, rtol=1e-9, atol=1e-300))


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=1, max_value=10**8), st.floats(min_value=-0.5, max_value=1.5))
def test_pelz_good_cdf_is_scipys(n: int, x: float) -> None:
    """Wherever scipy's ``_kolmogn`` calls it (``n * x**2 < 18``), and at and beyond ``[0, 1]``."""
    if n * x * x < 18 or not 0 < x < 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy divides by z**2 = 0
            theirs = float(_kolmogn_PelzGood(n, x))
        assert _close(pelz_good_cdf(n, x), theirs), (n, x, theirs)


def test_pelz_good_cdf_at_its_ends_and_where_its_series_is_cut_off() -> None:
    """``z = sqrt(n) x``: ``exp(-pi**2 / 8 / z**2)`` underflows below z ~ 0.04174 (0 there);
    the number of terms, ``ceil(16 z / pi)``, steps at every multiple of ``pi / 16``."""
    edge = float(np.sqrt(np.pi**2 / 8 / 708))
    zs = [edge * (1 - 1e-12), edge * (1 + 1e-12), *np.linspace(0.04, np.sqrt(18), 200)]
    zs += [k * np.pi / 16 + e for k in range(1, 22) for e in (-1e-12, 0.0, 1e-12)]
    for n in (141, 833, 6_667, 100_001, 10**7):
        for z in zs:
            x = z / np.sqrt(n)
            if 0 < x < 1:
                assert _close(pelz_good_cdf(n, x), float(_kolmogn_PelzGood(n, x))), (n, z)
        for x in (0.0, -1.0, 1.0, 2.0):
            assert pelz_good_cdf(n, x) == float(_kolmogn_PelzGood(n, x))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=100_000), st.floats(min_value=0.0, max_value=1.0))
def test_durbin_cdf_is_scipys(n: int, x: float) -> None:
    """Over ``n`` up to scipy's limit for it; its matrix is ``2 ceil(n x) - 1`` square."""
    if n * x <= 40:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)  # both overflow alike for tiny n
            theirs = float(_kolmogn_DMTW(n, x))
            scipy_overflowed = n > 140 and bool(caught)  # its power (see below)
            ours = durbin_cdf(n, x)
        assert scipy_overflowed or _close(ours, theirs), (n, x, theirs)


def test_durbin_cdf_where_scipy_calls_it_and_at_its_ends() -> None:
    """``ks_sf``'s range for it: ``n * x**1.5 <= 1.4``, ``n x > 1``, ``n`` from 141 to 100,000;
    ``n x`` at and off whole numbers (``h`` 0 or 1) and at 1/2 (0 below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for n in (1, 2, 7, 140, 141, 833, 5_000, 50_000, 100_000):
            top = (1.4 / n) ** (2 / 3)
            xs = [*np.linspace(0.0, min(top, 1.0), 60).tolist(), top, np.nextafter(top, 0.0)]
            xs += [(j + e) / n for j in (0.5, 1, 2, 3, 10) for e in (-1e-9, 0.0, 1e-9)]
            xs += [1.0, 1.5]
            for x in xs:
                if n * x <= 60:
                    assert _close(durbin_cdf(n, x), float(_kolmogn_DMTW(n, x))), (n, x)


def test_ks_sf_across_the_body_and_its_branch_boundaries() -> None:
    """Durbin against Pelz-Good at ``n * d**1.5 = 1.4`` and at ``n = 100,000``; the body
    against the tail at ``n d**2 = 2.2``; ``n d = 1``; ``n`` = 140 (scipy's) against 141."""
    for n in (140, 141, 833, 4_999, 100_000, 100_001, 2_000_000):
        edges = [(1.4 / n) ** (2 / 3), np.sqrt(2.2 / n), 1.0 / n]
        ds = [float(e) for edge in edges for e in np.nextafter(edge, [0.0, 1.0]).tolist()]
        ds += [*edges, *np.linspace(1.0 / n, np.sqrt(2.2 / n), 50).tolist()]
        for d in ds:
            _same(d, n)


def test_a_window_p_value_takes_the_ported_body() -> None:
    """The branches exist: in the body ``ks_sf`` is 1 - the ported CDF, not scipy's."""
    n = 833
    assert _in_body(0.03, n) and _in_body(0.01, n)
    assert ks_sf(0.03, n) == 1.0 - pelz_good_cdf(n, 0.03)  # n d**1.5 > 1.4
    assert ks_sf(0.01, n) == 1.0 - durbin_cdf(n, 0.01)  # n d**1.5 <= 1.4


def test_durbin_cdf_keeps_the_power_of_its_matrix_in_range() -> None:
    """Scipy scales the squares of the matrix but not the power it multiplies them into, which
    overflows for some ``n`` (``inf``: a CDF of 1 and a p-value of 0 for a window that matches
    its reference closely); ``durbin_cdf`` scales both. Pelz-Good is within a factor 2 there."""
    for n, k in ((63_984, 21), (81_363, 24), (90_094, 22)):
        d = (k - 0.5) / n
        assert _in_body(d, n) and n * d**1.5 <= 1.4
        cdf = durbin_cdf(n, d)  # warnings are errors: no overflow
        assert 0.0 < cdf < 1e-60
        assert 0.5 < cdf / pelz_good_cdf(n, d) < 2.0
        assert ks_sf(d, n) == 1.0
