"""Window tests that keep per-reference work (KS's reference CDF, spread's tails, PSI's
validated proportions) judge every reference as a fresh instance would."""

from __future__ import annotations

import numpy as np
import pytest

from driftd.detectors.base import ColumnWindow
from driftd.detectors.ks import KSTest
from driftd.detectors.profiles import NumericProfile
from driftd.detectors.psi import PSITest
from driftd.detectors.reference import reference_grid
from driftd.detectors.spread import SpreadTest
from driftd.detectors.window import grid_counts


def _profile(seed: int, scale: float) -> NumericProfile:
    sample = np.round(np.random.default_rng(seed).normal(0, scale, 2_000), 3)
    edges = np.quantile(sample, np.linspace(0.1, 0.9, 9))
    return NumericProfile(
        "x", edges.tolist(), [0.1] * 10, sample.tolist(), 20_000, 0.0,
        float(sample.min()), float(sample.max()), 0.0, scale,
    )  # fmt: skip


def _window(profile: NumericProfile, seed: int) -> ColumnWindow:
    x = np.random.default_rng(seed).normal(0, 1.2, 500)
    bins = np.concatenate([[-np.inf], profile.edges, [np.inf]])
    grid, _ = reference_grid(profile)
    counts = np.histogram(x, bins=bins)[0]
    return ColumnWindow("x", 500, counts, 0, 0, 0, grid_counts(grid, x))


@pytest.mark.parametrize("test_class", [KSTest, SpreadTest, PSITest])
def test_one_instance_judges_alternating_references_as_fresh_ones(test_class: type) -> None:
    a, b = _profile(1, 1.0), _profile(2, 2.0)
    reused = test_class()
    for _ in range(2):
        for profile, seed in ((a, 3), (b, 4)):
            window = _window(profile, seed)
            assert reused.judge(profile, window) == test_class().judge(profile, window)


def test_psi_rejects_negative_counts_against_a_reference_it_has_checked() -> None:
    profile = _profile(1, 1.0)
    test = PSITest()
    window = _window(profile, 3)
    assert test.judge(profile, window) is not None
    bad = ColumnWindow("x", 500, window.counts - window.counts.max(), 0, 0)
    bad.counts[0] = 10**6
    with pytest.raises(ValueError, match=">= 0"):
        test.judge(profile, bad)
