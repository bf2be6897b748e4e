"""``Binner.count_batch`` (columns) against the per-event reference it replaced, and
``Binner.count_chunks`` (every share of a batch in one pass) against ``count_batch``
of each share.

The reference below is the per-record counting driftd used before batches were
columnar, kept verbatim in spirit: one dict lookup per event and column. Every
window both produce from the same random records must be identical (counts,
grids, nulls, mismatches, out of range, latency, span).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.batch import PredictionBatch
from driftd.detectors.baseline import ProfileOptions, profile_dataframe
from driftd.detectors.latency import latency_bins
from driftd.detectors.profiles import PREDICTION_KEY
from driftd.detectors.window import Binner, WindowCounts, _code, _Numeric, grid_counts
from driftd.events import Coordinates, PredictionRecord

_NAN = math.nan
COUNTRIES = ["DE", "FR", "IT", "ES", "NL", "US", "JP", "", "café"]


def _frame(n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, n),
            "age": rng.integers(18, 90, n),
            "country": rng.choice(COUNTRIES[:5], n, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
            "code": rng.integers(0, 4, n),
            "city": rng.choice([f"c{i}" for i in range(60)], n),
            "score": rng.random(n),
            "klass": rng.choice(["yes", "no"], n),
            "p_yes": rng.random(n),
            "p_no": rng.random(n),
        }
    )


FEATURES = ["income", "age", "country", "code", "city"]
PROFILES = {
    "score": profile_dataframe(
        _frame(), "m", "v1", prediction="score", features=FEATURES,
        options=ProfileOptions(top_k=3, known_cap=2, categorical=frozenset({"code"})),
    ),
    "label": profile_dataframe(
        _frame(), "m", "v2", prediction="klass", features=FEATURES,
        options=ProfileOptions(top_k=3, categorical=frozenset({"code"})),
    ),
    "probabilities": profile_dataframe(
        _frame(), "m", "v3", features=FEATURES,
        options=ProfileOptions(top_k=3, probabilities=(("yes", "p_yes"), ("no", "p_no"))),
    ),
}  # fmt: skip


# --- the per-event reference ------------------------------------------------------------


def reference_count(binner: Binner, records: Sequence[PredictionRecord]) -> WindowCounts:
    window = binner.empty()
    n = len(records)
    if n == 0:
        return window
    nums = [r.num for r in records]
    cats = [r.cat for r in records]
    for spec in binner._features:
        name = spec.name
        if isinstance(spec, _Numeric):
            values = np.fromiter((d.get(name, _NAN) for d in nums), np.float64, n)
            missing = _ref_numeric(window, spec, values)
            wrong = sum(name in cats[i] for i in missing)
        else:
            labels: Iterable[str | None] = (d.get(name) for d in cats)
            if spec.codes:
                labels = [_code(c.get(name), d.get(name)) for c, d in zip(cats, nums, strict=True)]
            missing = _ref_categorical(window, spec, labels, n)
            wrong = sum(name in nums[i] for i in missing)
        window.mismatches[name] = wrong
        window.nulls[name] = len(missing) - wrong
    spec = binner._prediction
    if isinstance(spec, _Numeric):
        values = np.fromiter(
            (_NAN if r.pred_num is None or r.pred_proba else r.pred_num for r in records),
            np.float64,
            n,
        )
        missing = _ref_numeric(window, spec, values)
        wrong = sum(records[i].pred_label != "" or bool(records[i].pred_proba) for i in missing)
    elif spec is not None:
        missing = _ref_categorical(window, spec, (r.pred_label or None for r in records), n)
        wrong = sum(records[i].pred_num is not None for i in missing)
    if spec is not None:
        window.mismatches[PREDICTION_KEY] = wrong
        window.nulls[PREDICTION_KEY] = len(missing) - wrong
    for label, pspec in binner._probabilities:
        values = np.fromiter((r.pred_proba.get(label, _NAN) for r in records), np.float64, n)
        missing = _ref_numeric(window, pspec, values)
        window.mismatches[pspec.name] = sum(not records[i].pred_proba for i in missing)
        window.nulls[pspec.name] = len(missing) - window.mismatches[pspec.name]
    latencies = np.fromiter(
        (_NAN if r.latency_ms is None else r.latency_ms for r in records), np.float64, n
    )
    window.latency = latency_bins(latencies)
    stamps = np.fromiter((r.timestamp_ms for r in records), np.int64, n)
    window.n, window.first_ms, window.last_ms = n, int(stamps.min()), int(stamps.max())
    return window


def _ref_numeric(window: WindowCounts, spec: Any, values: np.ndarray) -> list[int]:
    absent = np.isnan(values)
    present = values[~absent]
    cells = grid_counts(spec.grid, present)
    window.grids[spec.name] = cells
    window.counts[spec.name] = np.bincount(
        spec.cell_bin, weights=cells, minlength=spec.bins
    ).astype(np.int64)
    window.out_of_range[spec.name] = int(present.size - cells[spec.inside].sum())
    missing: list[int] = np.flatnonzero(absent).tolist()
    return missing


def _ref_categorical(
    window: WindowCounts, spec: Any, labels: Iterable[str | None], n: int
) -> list[int]:
    get, fallback = spec.lookup.get, spec.fallback
    if spec.seen is not None:
        seen, unseen = spec.seen, fallback + 1
        labels = list(labels)
        lookup = dict(spec.lookup)
        for x in set(labels):
            if x is not None and x not in lookup:
                lookup[x] = fallback if x in seen else unseen
        get = lookup.get
    codes = np.fromiter((get(label, fallback) for label in labels), np.int64, n)
    absent = codes < 0
    window.counts[spec.name] = np.bincount(codes[~absent], minlength=spec.bins)
    missing: list[int] = np.flatnonzero(absent).tolist()
    return missing


# --- random records ---------------------------------------------------------------------

_numbers = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(0, 5).map(float),
    st.sampled_from([0.5, 1.0, 3.0, 1e300]),
)
_strings = st.one_of(st.sampled_from(COUNTRIES), st.sampled_from([f"c{i}" for i in range(80)]))


def _values(numbers: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.just("null"), numbers, _strings)


@st.composite
def records(
    draw: st.DrawFn, numbers: st.SearchStrategy[float] = _numbers, most: int = 40
) -> list[PredictionRecord]:
    values = _values(numbers)
    out = []
    for i in range(draw(st.integers(0, most))):
        num: dict[str, float] = {}
        cat: dict[str, str] = {}
        nulls: list[str] = []
        for name in [*FEATURES, "extra"]:
            value = draw(values)
            if value == "null":
                nulls.append(name)
            elif isinstance(value, float):
                num[name] = value
            elif isinstance(value, str):
                cat[name] = value
        proba = draw(
            st.one_of(
                st.just({}),
                st.fixed_dictionaries({"yes": st.floats(0, 1)}, optional={"no": st.floats(0, 1)}),
            )
        )
        out.append(
            PredictionRecord(
                event_id=f"e{i}", model="m", model_version="v1",
                timestamp_ms=draw(st.integers(0, 10**13)), received_ms=0, request_id="",
                num=num, cat=cat, nulls=nulls, pred_num=draw(st.none() | numbers),
                pred_label=draw(st.sampled_from(["", "yes", "no", "maybe"])), pred_proba=proba,
                segments={}, latency_ms=draw(st.none() | st.floats(0, 1e5)),
                source=Coordinates("t", 0, i),
            )
        )  # fmt: skip
    return out


@settings(max_examples=150, deadline=None)
@given(recs=records(), which=st.sampled_from(sorted(PROFILES)))
def test_count_batch_equals_the_per_event_reference(
    recs: list[PredictionRecord], which: str
) -> None:
    binner = Binner(PROFILES[which])
    expected = reference_count(binner, recs)
    batch = PredictionBatch.from_records(recs)
    assert binner.count_batch(batch) == expected
    assert binner.count(recs) == expected
    half = len(recs) // 2  # and a batch's parts merge to the whole
    merged = binner.count_batch(batch.slice(0, half)).merge(
        binner.count_batch(batch.slice(half, len(recs)))
    )
    assert merged.counts.keys() == expected.counts.keys()
    assert {k: v.tolist() for k, v in merged.counts.items()} == {
        k: v.tolist() for k, v in expected.counts.items()
    }


def test_the_profiles_exercise_every_branch() -> None:
    score, label, proba = PROFILES["score"], PROFILES["label"], PROFILES["probabilities"]
    binner = Binner(score)
    assert any(getattr(s, "codes", False) for s in binner._features)  # numeric codes
    assert any(getattr(s, "seen", None) is not None for s in binner._features)  # bloom
    assert isinstance(Binner(label)._prediction, type(Binner(proba)._prediction))
    assert Binner(proba)._probabilities and not isinstance(Binner(label)._prediction, _Numeric)
    assert isinstance(binner._prediction, _Numeric)


def test_the_reference_tells_a_wrong_count_apart() -> None:
    """The comparison can fail: one label moved changes the window."""
    binner = Binner(PROFILES["score"])
    recs = [
        PredictionRecord("e", "m", "v1", 5, 0, "", {}, {"country": c}, [], 0.5, "", {}, {}, None)
        for c in ("DE", "FR")
    ]
    moved = [recs[0], recs[0]]
    assert binner.count_batch(PredictionBatch.from_records(moved)) != reference_count(binner, recs)


# --- every share of a batch in one pass ---------------------------------------------------


def _grid_points() -> list[float]:
    """Every grid point (reference sample, edges, min, max) of the profiles' numeric columns."""
    points: set[float] = set()
    for profile in PROFILES.values():
        binner = Binner(profile)
        specs = [*binner._features, binner._prediction, *(s for _, s in binner._probabilities)]
        for spec in specs:
            if isinstance(spec, _Numeric):
                points.update(spec.grid.tolist())
    return sorted(points)


_on_grid = st.one_of(_numbers, st.sampled_from(_grid_points()))


def per_share(binner: Binner, batch: PredictionBatch, ends: list[int]) -> list[WindowCounts]:
    """The reference: each share cut out of the batch and counted alone."""
    return [binner.count_batch(batch.slice(a, b)) for a, b in zip([0, *ends], ends, strict=False)]


@st.composite
def cuts(draw: st.DrawFn, n: int) -> list[int]:
    """Where shares end: sorted, repeats (empty shares) and 0 allowed, the last ``n``."""
    return [*sorted(draw(st.lists(st.integers(0, n), max_size=6))), n]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), recs=records(_on_grid), which=st.sampled_from(sorted(PROFILES)))
def test_count_chunks_equals_count_batch_of_each_share(
    data: st.DataObject, recs: list[PredictionRecord], which: str
) -> None:
    binner = Binner(PROFILES[which])
    batch = PredictionBatch.from_records(recs)
    ends = data.draw(cuts(len(recs)))
    chunks = binner.count_chunks(batch, ends)
    assert len(chunks) == len(ends)
    assert chunks == per_share(binner, batch, ends)
    assert [w.n for w in chunks] == np.diff([0, *ends]).tolist()
    assert binner.count_chunks(batch, [len(recs)]) == [binner.count_batch(batch)]


@pytest.mark.parametrize("ends", [[2_600, 5_000], [0, 2_500, 2_500, 5_000], [5_000]])
def test_count_chunks_of_large_shares(ends: list[int]) -> None:
    """Shares of thousands of values (a grid's values outnumber its cells, or not)."""
    rng = np.random.default_rng(5)
    frame = _frame(5_000)
    frame.loc[rng.random(5_000) < 0.1, "income"] = np.nan  # absent: nulls
    frame["city"] = rng.choice([f"c{i}" for i in range(80)], 5_000)  # unseen ones too
    recs = [
        PredictionRecord(
            f"e{i}", "m", "v1", int(i), 0, "",
            {k: float(row[k]) for k in ("income", "age") if not math.isnan(row[k])},
            {k: str(row[k]) for k in ("country", "code", "city")}, [], float(row["score"]),
            "", {"yes": float(row["p_yes"])}, {}, float(i % 97),
        )
        for i, row in enumerate(frame.to_dict("records"))
    ]  # fmt: skip
    batch = PredictionBatch.from_records(recs)
    for profile in PROFILES.values():
        binner = Binner(profile)
        assert binner.count_chunks(batch, ends) == per_share(binner, batch, ends)


def test_count_chunks_rejects_shares_out_of_order_or_short_of_the_batch() -> None:
    binner = Binner(PROFILES["score"])
    batch = PredictionBatch.from_records(
        [PredictionRecord("e", "m", "v1", 5, 0, "", {}, {}, [], 0.5, "", {}, {}, None)] * 3
    )
    for ends in ([2, 1, 3], [2], [], [1, 4]):
        with pytest.raises(ValueError, match="shares must end"):
            binner.count_chunks(batch, ends)
