"""Window counting against batch oracles (numpy histogram, pandas value_counts)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftd.detectors.baseline import ProfileOptions, profile_dataframe
from driftd.detectors.profiles import (
    PREDICTION_KEY,
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
)
from driftd.detectors.window import Binner, WindowCounts, window_psi
from driftd.events import PredictionRecord, parse_prediction

RNG_SEED = 20261128


def _baseline(prediction: str = "score") -> BaselineProfile:
    rng = np.random.default_rng(RNG_SEED)
    n = 5_000
    df = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, n),
            "age": rng.integers(18, 90, n),
            "country": rng.choice(["DE", "FR", "IT", "ES", "NL"], n, p=[0.4, 0.3, 0.2, 0.07, 0.03]),
            "score": rng.random(n),
            "klass": rng.choice(["yes", "no"], n),
        }
    )
    # top 3 countries, "ES"/"NL" fall in "other", anything else is unseen
    return profile_dataframe(
        df,
        "credit-risk",
        "v1",
        prediction=prediction,
        features=["income", "age", "country"],
        options=ProfileOptions(top_k=3),
    )


_PROFILE = _baseline()


def _events(n: int, seed: int, *, drift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    countries = ["DE", "FR", "IT", "ES", "NL", "US", "JP"]
    out = []
    for i in range(n):
        features: dict[str, Any] = {
            "income": float(rng.lognormal(10 + drift, 0.5)),
            "age": int(rng.integers(18, 95)),
            "country": str(rng.choice(countries)),
            "ignored": "not in the baseline",
        }
        kind = i % 17
        if kind == 0:
            features["income"] = None  # null
        elif kind == 1:
            features["income"] = "52k"  # numeric feature sent as a string
        elif kind == 2:
            features["country"] = 49  # categorical feature sent as a number
        elif kind == 3:
            del features["age"]  # absent: null
        elif kind == 4:
            features["age"] = True  # bool is categorical: a mismatch here
        elif kind == 5:
            features["income"] = 1e9  # out of range
        out.append(
            {
                "model": "credit-risk",
                "features": features,
                "prediction": float(rng.random()) if i % 11 else "high",
                "timestamp": 1_700_000_000_000 + int(rng.integers(0, 10**6)),
            }
        )
    return out


def _numeric(profile: BaselineProfile, name: str) -> NumericProfile:
    p = profile.features[name]
    assert isinstance(p, NumericProfile)
    return p


def _categorical(profile: BaselineProfile, name: str) -> CategoricalProfile:
    p = profile.features[name]
    assert isinstance(p, CategoricalProfile)
    return p


def _records(events: list[dict[str, Any]]) -> list[PredictionRecord]:
    return [parse_prediction(e, received_ms=0) for e in events]


def _raw(events: list[dict[str, Any]], name: str) -> list[Any]:
    return [e["features"].get(name) for e in events]


def test_numeric_counts_match_numpy_histogram() -> None:
    profile = _baseline()
    events = _events(3_000, seed=1)
    window = Binner(profile).count(_records(events))
    for name in ("income", "age"):
        raw = _raw(events, name)
        numbers = np.array(
            [v for v in raw if isinstance(v, int | float) and not isinstance(v, bool)], float
        )
        p = _numeric(profile, name)
        oracle, _ = np.histogram(numbers, bins=[-math.inf, *p.edges, math.inf])
        assert window.counts[name].tolist() == oracle.tolist()
        assert window.counts[name].dtype == np.int64
        wrong = sum(isinstance(v, str | bool) for v in raw)
        assert window.mismatches[name] == wrong
        assert window.nulls[name] == sum(v is None for v in raw)
        assert window.out_of_range[name] == int(((numbers < p.min) | (numbers > p.max)).sum())
    assert window.out_of_range["income"] > 0


def test_categorical_counts_match_value_counts() -> None:
    profile = _baseline()
    events = _events(3_000, seed=2)
    window = Binner(profile).count(_records(events))
    raw = pd.Series([v for v in _raw(events, "country") if isinstance(v, str)])
    country = _categorical(profile, "country")
    assert country.categories == ["DE", "FR", "IT"]
    assert country.known == ["DE", "ES", "FR", "IT", "NL"]
    vc = raw.value_counts()
    oracle = [int(vc.get(c, 0)) for c in country.categories]
    oracle.append(int(vc.get("ES", 0) + vc.get("NL", 0)))  # other
    oracle.append(int(vc.get("US", 0) + vc.get("JP", 0)))  # unseen
    assert window.counts["country"].tolist() == oracle
    assert window.mismatches["country"] == sum(1 for e in events if e["features"]["country"] == 49)
    assert window.nulls["country"] == 0
    assert "ignored" not in window.counts


def test_prediction_counts_and_timestamps() -> None:
    profile = _baseline()
    events = _events(500, seed=3)
    window = Binner(profile).count(_records(events))
    numbers = [e["prediction"] for e in events if isinstance(e["prediction"], float)]
    edges = profile.prediction.edges  # type: ignore[union-attr]
    oracle, _ = np.histogram(numbers, bins=[-math.inf, *edges, math.inf])
    assert window.counts[PREDICTION_KEY].tolist() == oracle.tolist()
    assert window.mismatches[PREDICTION_KEY] == len(events) - len(numbers)
    assert window.nulls[PREDICTION_KEY] == 0
    stamps = [e["timestamp"] for e in events]
    assert (window.n, window.first_ms, window.last_ms) == (500, min(stamps), max(stamps))


def test_categorical_prediction_uses_the_label() -> None:
    profile = _baseline(prediction="klass")
    events = [
        {"model": "m", "features": {}, "prediction": label}
        for label in ["yes", "yes", "no", "maybe", 0.7]
    ]
    window = Binner(profile).count(_records(events))
    # categories ordered by frequency then name; "maybe" is unseen; 0.7 is a mismatch
    order = profile.prediction.categories  # type: ignore[union-attr]
    expected = [2 if c == "yes" else 1 for c in order] + [0, 1]
    assert window.counts[PREDICTION_KEY].tolist() == expected
    assert window.mismatches[PREDICTION_KEY] == 1
    assert window.nulls["income"] == 5  # absent features are nulls


def test_merge_equals_counting_the_concatenation() -> None:
    profile = _baseline()
    binner = Binner(profile)
    records = _records(_events(2_000, seed=4))
    whole = binner.count(records)
    parts = binner.empty()
    for start in range(0, len(records), 300):
        parts = parts.merge(binner.count(records[start : start + 300]))
    assert parts == whole


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 2**31))
def test_merge_property(split: int, extra: int, seed: int) -> None:
    binner = Binner(_PROFILE)
    records = _records(_events(split + extra, seed=seed))
    merged = binner.count(records[:split]).merge(binner.count(records[split:]))
    assert merged == binner.count(records)


def test_round_trip_through_json() -> None:
    binner = Binner(_PROFILE)
    window = binner.count(_records(_events(700, seed=5)))
    restored = WindowCounts.from_dict(json.loads(json.dumps(window.to_dict(), allow_nan=False)))
    assert restored == window
    assert all(v.dtype == np.int64 for v in restored.counts.values())
    empty = binner.empty()
    assert WindowCounts.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty
    assert binner.count([]) == empty


def test_arrays_serialise_to_the_same_json() -> None:
    """``to_dict(arrays=True)`` through orjson is byte for byte the listed form (what a
    checkpoint holds), strided arrays included."""
    window = Binner(_PROFILE).count(_records(_events(700, seed=8)))
    name = next(iter(window.counts))
    window.counts[name] = np.repeat(window.counts[name], 2)[::2]  # not C-contiguous
    listed = orjson.dumps(window.to_dict(), option=orjson.OPT_NON_STR_KEYS)
    arrays = orjson.dumps(
        window.to_dict(arrays=True), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    )
    assert arrays == listed
    assert WindowCounts.from_dict(orjson.loads(arrays)) == window


def test_merge_refuses_another_baseline() -> None:
    window = Binner(_PROFILE).count(_records(_events(10, seed=6)))
    other = Binner(_baseline(prediction="klass")).count(_records(_events(10, seed=6)))
    with pytest.raises(ValueError, match="different baselines"):
        window.merge(other)
    with pytest.raises(ValueError, match="different baseline"):
        window_psi(_PROFILE, other)


def _oracle_psi(expected: list[float], counts: list[int], m: int) -> float:
    """PSI straight from its definition, one bin at a time."""
    alpha, b, n = 0.5, len(expected), sum(counts)
    total = 0.0
    for p, c in zip(expected, counts, strict=True):
        a = (c + alpha) / (n + alpha * b)
        e = (p * m + alpha) / (m + alpha * b)
        total += (a - e) * math.log(a / e)
    return total


def test_window_psi_matches_a_batch_oracle() -> None:
    profile = _PROFILE
    events = _events(4_000, seed=7, drift=0.3)
    result = window_psi(profile, Binner(profile).count(_records(events)))
    assert sorted(result) == sorted([*profile.features, PREDICTION_KEY])

    income = _numeric(profile, "income")
    values = [v for v in _raw(events, "income") if isinstance(v, float)]
    hist, _ = np.histogram(values, bins=[-math.inf, *income.edges, math.inf])
    oracle = _oracle_psi(income.proportions, hist.tolist(), income.count)
    assert result["income"] == pytest.approx(oracle, rel=1e-12)
    assert result["income"] > 0.25  # the shift in log-income is a major one

    country = _categorical(profile, "country")
    vc = pd.Series([v for v in _raw(events, "country") if isinstance(v, str)]).value_counts()
    counts = [int(vc.get(c, 0)) for c in country.categories]
    counts += [int(vc.get("ES", 0) + vc.get("NL", 0)), int(vc.get("US", 0) + vc.get("JP", 0))]
    oracle = _oracle_psi([*country.proportions, 0.0], counts, country.count)
    assert result["country"] == pytest.approx(oracle, rel=1e-12)


def test_without_known_set_a_filter_of_seen_categories_tells_unseen_apart() -> None:
    rng = np.random.default_rng(8)
    df = pd.DataFrame({"c": rng.choice(list("abcdef"), 1_000), "p": rng.random(1_000)})
    profile = profile_dataframe(
        df, "m", "v", prediction="p", options=ProfileOptions(top_k=2, known_cap=3)
    )
    c = _categorical(profile, "c")
    assert c.known is None and c.seen is not None
    events = [{"model": "m", "features": {"c": v}, "prediction": 0.5} for v in "abcdefzz"]
    window = Binner(profile).count(_records(events))
    counts = window.counts["c"].tolist()
    assert counts[-1] == 2 and sum(counts) == 8  # "z": never seen in training
    result = window_psi(profile, window)
    assert result["c"] == pytest.approx(_oracle_psi([*c.proportions, 0.0], counts, c.count))


def test_window_psi_leaves_out_columns_without_values() -> None:
    events = [{"model": "m", "features": {"income": None}, "prediction": 0.1}] * 5
    result = window_psi(_PROFILE, Binner(_PROFILE).count(_records(events)))
    assert sorted(result) == [PREDICTION_KEY]
