"""PSI: hand-computed values, the smoothing decision, and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftd.detectors.psi import PSI_PSEUDOCOUNT, psi


def test_hand_computed_without_smoothing() -> None:
    # a = [0.25, 0.75], e = [0.5, 0.5]
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi([0.5, 0.5], [25, 75], pseudocount=0) == pytest.approx(expected, rel=1e-12)
    assert round(expected, 6) == 0.274653


def test_hand_computed_with_pseudocounts() -> None:
    # B = 3 bins, alpha = 0.5; window N = 20, baseline M = 100
    # a = ([10, 0, 10] + 0.5) / (20 + 1.5)           = [10.5, 0.5, 10.5] / 21.5
    # e = ([0.2, 0.3, 0.5] * 100 + 0.5) / (100 + 1.5) = [20.5, 30.5, 50.5] / 101.5
    a = [10.5 / 21.5, 0.5 / 21.5, 10.5 / 21.5]
    e = [20.5 / 101.5, 30.5 / 101.5, 50.5 / 101.5]
    expected = sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))
    assert PSI_PSEUDOCOUNT == 0.5
    got = psi([0.2, 0.3, 0.5], [10, 0, 10], expected_count=100)
    assert got == pytest.approx(expected, rel=1e-12)
    # by hand: a = [0.48837, 0.02326, 0.48837], e = [0.20197, 0.30049, 0.49754]
    # 0.28640 * ln 2.4180 + (-0.27723) * ln 0.07739 + (-0.00917) * ln 0.98157
    # = 0.25290 + 0.70939 + 0.00017 = 0.96246
    assert got == pytest.approx(0.96246, abs=1e-5)


def test_empty_live_bin_is_judged_by_the_data_not_an_epsilon() -> None:
    # All 100 events in one of two equally likely bins. An epsilon of 1e-10 standing in
    # for the empty bin would add 0.5 * ln(0.5 / 1e-10) ~ 11.2 and dominate the sum.
    naive = 0.5 * math.log(1 / 0.5) + 0.5 * math.log(0.5 / 1e-10)
    assert naive > 11
    ours = psi([0.5, 0.5], [100, 0], expected_count=1_000_000)
    assert 2.0 < ours < 3.0  # a = [100.5, 0.5] / 101: a major shift, but a finite one
    # and it hardly depends on the size of the baseline
    assert ours == pytest.approx(psi([0.5, 0.5], [100, 0], expected_count=10_000), rel=1e-3)


def test_bin_never_seen_in_the_baseline_gets_finite_expected_mass() -> None:
    # e_unseen = 0.5 / (1000 + 1.5); 10% of the window lands there
    value = psi([0.5, 0.5, 0.0], [45, 45, 10], expected_count=1000)
    assert math.isfinite(value)
    assert value > 0.25


def test_identical_distributions_give_zero() -> None:
    assert psi([0.1, 0.2, 0.7], [10, 20, 70], expected_count=100) == 0.0
    assert psi([0.1, 0.2, 0.7], [10, 20, 70]) == 0.0  # expected_count defaults to N


def test_unsmoothed_empty_bin_is_infinite() -> None:
    assert psi([0.5, 0.5], [10, 0], pseudocount=0) == math.inf
    assert psi([0.5, 0.0, 0.5], [5, 0, 5], pseudocount=0) == 0.0


@pytest.mark.parametrize(
    ("expected", "actual", "kwargs", "message"),
    [
        ([0.5, 0.5], [1, 2, 3], {}, "same length"),
        ([], [], {}, "non-empty"),
        ([0.5, 0.6], [1, 1], {}, "sum to 1"),
        ([1.5, -0.5], [1, 1], {}, "sum to 1"),
        ([0.5, 0.5], [-1, 2], {}, ">= 0"),
        ([0.5, 0.5], [0, 0], {}, "empty window"),
        ([0.5, 0.5], [1, 1], {"expected_count": 0}, "expected_count"),
        ([0.5, 0.5], [1, 1], {"pseudocount": -1}, "pseudocount"),
    ],
)
def test_invalid_input(
    expected: list[float], actual: list[int], kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        psi(expected, actual, **kwargs)


counts_lists = st.lists(st.integers(0, 10_000), min_size=1, max_size=30).filter(
    lambda c: sum(c) > 0
)


@given(counts_lists, counts_lists, st.floats(0.01, 5.0), st.integers(1, 10**7))
def test_psi_is_non_negative(
    baseline: list[int], window: list[int], alpha: float, expected_count: int
) -> None:
    size = min(len(baseline), len(window))
    base = np.array(baseline[:size], dtype=float)
    if base.sum() == 0 or sum(window[:size]) == 0:
        return
    value = psi(base / base.sum(), window[:size], expected_count=expected_count, pseudocount=alpha)
    assert value >= 0.0
    assert math.isfinite(value)


@given(counts_lists, st.floats(0.0, 5.0))
def test_psi_is_zero_for_identical_distributions(counts: list[int], alpha: float) -> None:
    c = np.array(counts, dtype=float)
    value = psi(c / c.sum(), c, expected_count=float(c.sum()), pseudocount=alpha)
    assert value == pytest.approx(0.0, abs=1e-12)


@given(st.lists(st.integers(100, 10_000), min_size=1, max_size=30), st.integers(1, 50))
def test_psi_is_near_zero_when_only_the_sample_sizes_differ(counts: list[int], scale: int) -> None:
    c = np.array(counts, dtype=float)
    value = psi(c / c.sum(), c * scale, expected_count=float(c.sum()))
    assert 0.0 <= value < 1e-3  # the smoothing alone never raises an alarm
