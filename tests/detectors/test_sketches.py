"""Streaming summaries: exact against batch oracles, and blind to chunking."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftd.detectors.sketches import BottomKSample, ExactSum, HeavyHitters

finite = st.floats(-1e300, 1e300) | st.floats(-1e-300, 1e-300)  # sums stay finite


@given(st.lists(finite, max_size=200), st.integers(1, 50))
def test_exact_sum_is_exact_and_chunk_blind(values: list[float], step: int) -> None:
    exact = sum(map(Fraction, values), Fraction(0))
    whole, parts = ExactSum(), ExactSum()
    whole.add(np.array(values, dtype=np.float64))
    for start in range(0, len(values), step):
        parts.add(np.array(values[start : start + step], dtype=np.float64))
    assert whole.value() == parts.value() == float(exact)
    if values:
        assert whole.mean(len(values)) == float(exact / len(values))


def test_exact_sum_merges() -> None:
    a, b = ExactSum(), ExactSum()
    a.add(np.array([1e308, 1e-308]))
    b.add(np.array([-1e308, 5e-324]))
    a.merge(b)
    assert a.value() == float(Fraction(1e-308) + Fraction(5e-324))


def test_bottom_k_sample_is_chunk_blind_and_bounded() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=50_000)
    rows = np.arange(len(values))
    one = BottomKSample(size=1_000, seed=9)
    one.add(values, rows)
    many = BottomKSample(size=1_000, seed=9)
    for start in range(0, len(values), 777):
        many.add(values[start : start + 777], rows[start : start + 777])
        assert len(many._values) <= 2 * 1_000
    assert one.values().tolist() == many.values().tolist()
    assert len(one.values()) == 1_000
    assert set(one.values(100).tolist()) <= set(one.values().tolist())
    # a uniform sample: its mean is near the population's
    assert abs(one.values().mean() - values.mean()) < 0.15


def test_bottom_k_sample_keeps_everything_when_small() -> None:
    s = BottomKSample(size=10, seed=1)
    s.add(np.array([3.0, 1.0, 2.0]), np.arange(3))
    assert s.values().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="size"):
        BottomKSample(size=0, seed=1)


def test_heavy_hitters_exact_below_capacity() -> None:
    h = HeavyHitters(capacity=3)
    h.add({"a": 2, "b": 5})
    h.add({"a": 4, "c": 1})
    h.compact()
    assert h.exact and h.keys() == ["a", "b", "c"] and h.top(2) == ["a", "b"]


@given(st.lists(st.sampled_from("abcdefghijklmnop"), max_size=300), st.integers(1, 6))
def test_heavy_hitters_keep_every_frequent_key(stream: list[str], capacity: int) -> None:
    h = HeavyHitters(capacity=capacity)
    for start in range(0, len(stream), 7):
        chunk: dict[str, int] = {}
        for key in stream[start : start + 7]:
            chunk[key] = chunk.get(key, 0) + 1
        h.add(chunk)
        h.compact()
    # Misra-Gries: a key seen more than n / (capacity + 1) times survives
    kept = set(h.keys())
    for key in set(stream):
        if stream.count(key) > len(stream) / (capacity + 1):
            assert key in kept
    assert len(h.keys()) <= capacity
