"""RecentIds' batch operations agree with remembering pairs one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftd.batch import factorize
from driftd.collector.recent import RecentIds


class OneByOne:
    """The reference: a dict in insertion order, one pair at a time."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.ids: dict[tuple[str, str, str], None] = {}

    def add(self, kind: str, pairs: list[tuple[str, str]]) -> None:
        """A batch counts as added model by model, in order of first appearance."""
        if self.capacity == 0:
            return
        models = list(dict.fromkeys(m for m, _ in pairs))
        for model, event_id in sorted(pairs, key=lambda p: models.index(p[0])):  # stable
            self.ids.pop((kind, model, event_id), None)
            self.ids[(kind, model, event_id)] = None
            while len(self.ids) > self.capacity:
                del self.ids[next(iter(self.ids))]


pairs = st.lists(
    st.tuples(st.sampled_from(["m", "n", "o"]), st.sampled_from("abcdefgh")), max_size=12
)


@given(
    capacity=st.integers(0, 6),
    batches=st.lists(st.tuples(st.sampled_from(["predictions", "outcomes"]), pairs), max_size=6),
)
def test_batches_remember_and_forget_as_one_by_one(
    capacity: int, batches: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    recent, reference = RecentIds(capacity), OneByOne(capacity)
    for kind, batch in batches:
        asked = [m for m, _ in batch], [e for _, e in batch]
        expected = [(kind, m, e) in reference.ids for m, e in batch]
        assert recent.seen_many(kind, *asked).tolist() == expected
        recent.add(kind, batch)
        reference.add(kind, batch)
        assert recent.pairs() == list(reference.ids)  # same pairs, same age order
        assert len(recent) == len(reference.ids)


def test_add_many_takes_columns() -> None:
    recent = RecentIds(3)
    recent.add_many("predictions", ["m", "m", "m", "m"], ["a", "b", "a", "c"])
    assert [recent.seen("predictions", "m", e) for e in "abc"] == [True, True, True]
    recent.add_many("predictions", ["m"], ["d"])  # "b" is now the oldest
    assert not recent.seen("predictions", "m", "b")
    assert recent.seen("predictions", "m", "a")


def test_models_interleaved_event_by_event_are_grouped_per_model() -> None:
    recent = RecentIds(4)
    recent.add_many("predictions", ["m", "n", "m", "n", "m"], ["1", "1", "2", "2", "3"])
    # m's three first (m came first), then n's two; the oldest, m/1, is forgotten
    assert recent.pairs() == [
        ("predictions", "m", "2"), ("predictions", "m", "3"),
        ("predictions", "n", "1"), ("predictions", "n", "2"),
    ]  # fmt: skip
    assert recent.seen_many("predictions", ["n", "m", "o"], ["2", "1", "1"]).tolist() == [
        True, False, False]  # fmt: skip


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 models for 1 event ids"):
        RecentIds().seen_many("predictions", ["m", "m"], ["a"])


@given(st.lists(st.sampled_from(["a", "b", "ç", ""]), max_size=8))
def test_factorize_matches_pandas(values: list[str]) -> None:
    import pandas as pd

    column = np.empty(len(values), dtype=object)
    column[:] = values
    codes, names = factorize(column)
    want_codes, want_names = pd.factorize(column)
    assert codes.tolist() == want_codes.tolist()
    assert names.tolist() == list(want_names)
    assert codes.dtype == np.int64
