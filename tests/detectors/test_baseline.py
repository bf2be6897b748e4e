"""Baseline profiling: streamed files agree with exact in-memory computations."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftd.detectors.baseline import ProfileOptions, profile_dataframe, profile_file
from driftd.detectors.profiles import (
    BaselineProfile,
    CategoricalProfile,
    NumericProfile,
)
from driftd.errors import BaselineError

N_ROWS = 25_000
DECILES = np.arange(1, 10) / 10


def _training(n: int = N_ROWS, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, n)
    income[rng.random(n) < 0.05] = np.nan
    cities = rng.choice(["berlin", "paris", "rome", "madrid", "oslo", "bern"], n)
    city = pd.Series(cities, dtype="str").mask(rng.random(n) < 0.02)
    flag = pd.Series(rng.random(n) < 0.3, dtype=object).mask(rng.random(n) < 0.01)
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(18, 90, n),
            "city": city,
            "has_card": rng.random(n) < 0.6,
            "flag": flag,
            "score": rng.random(n),
            "default": rng.choice(["no", "yes"], n, p=[0.9, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return _training()


@pytest.fixture(scope="module")
def files(training: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("baseline")
    csv, parquet = root / "train.csv", root / "train.parquet"
    training.to_csv(csv, index=False)
    training.to_parquet(parquet, row_group_size=7_000)
    return {"csv": csv, "parquet": parquet}


def _profile(path: Path, **kwargs: object) -> BaselineProfile:
    return profile_file(
        path,
        "credit-risk",
        "v1",
        prediction="score",
        label="default",
        **kwargs,  # type: ignore[arg-type]
    )


def _exact_mean(values: np.ndarray) -> float:
    return float(sum(map(Fraction, values.tolist()), Fraction(0)) / len(values))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_streamed_file_matches_exact_computation(
    kind: str, files: dict[str, Path], training: pd.DataFrame
) -> None:
    profile = _profile(files[kind], chunk_rows=1_000)
    assert profile.n_rows == N_ROWS
    assert list(profile.features) == ["income", "age", "city", "has_card", "flag"]

    for name in ("income", "age"):
        p = profile.features[name]
        assert isinstance(p, NumericProfile)
        values = training[name].dropna().to_numpy(dtype=float)
        # data <= quantile sample: the edges are numpy's deciles, exactly
        assert p.edges == np.unique(np.quantile(values, DECILES)).tolist()
        hist, _ = np.histogram(values, bins=[-math.inf, *p.edges, math.inf])
        assert p.proportions == (hist / len(values)).tolist()
        assert p.count == len(values)
        assert p.null_rate == training[name].isna().sum() / N_ROWS
        assert (p.min, p.max) == (values.min(), values.max())
        assert p.mean == _exact_mean(values)
        assert p.std == pytest.approx(values.std(ddof=1), rel=1e-12)
        assert len(p.sample) == 5_000
        assert p.sample == sorted(p.sample)
        assert set(p.sample) <= set(values.tolist())

    city = profile.features["city"]
    assert isinstance(city, CategoricalProfile)
    vc = training["city"].value_counts()
    assert city.categories == sorted(vc.index, key=lambda c: (-vc[c], c))
    assert city.proportions == [vc[c] / vc.sum() for c in city.categories] + [0.0]
    assert city.known == sorted(vc.index)
    assert city.null_rate == training["city"].isna().sum() / N_ROWS

    has_card = profile.features["has_card"]
    assert isinstance(has_card, CategoricalProfile)
    assert sorted(has_card.categories) == ["false", "true"]
    flag = profile.features["flag"]
    assert isinstance(flag, CategoricalProfile) and flag.known == ["false", "true"]
    assert flag.count == training["flag"].notna().sum()

    assert isinstance(profile.prediction, NumericProfile)
    assert isinstance(profile.label, CategoricalProfile)
    assert profile.label.categories == ["no", "yes"]


def test_same_data_same_fingerprint_from_any_source(
    files: dict[str, Path], training: pd.DataFrame
) -> None:
    from_csv = _profile(files["csv"], chunk_rows=1_000)
    from_parquet = _profile(files["parquet"], chunk_rows=3_333)
    from_frame = profile_dataframe(
        training, "credit-risk", "v1", prediction="score", label="default"
    )
    assert from_csv == from_parquet == from_frame
    assert from_csv.fingerprint == from_parquet.fingerprint == from_frame.fingerprint
    assert len(from_csv.fingerprint) == 64
    again = _profile(files["csv"], chunk_rows=1_000)
    assert again.fingerprint == from_csv.fingerprint


def test_fingerprint_changes_with_the_data(training: pd.DataFrame) -> None:
    base = profile_dataframe(training, "m", "v1", prediction="score")
    changed = training.copy()
    changed.loc[0, "age"] = 99
    assert profile_dataframe(changed, "m", "v1", prediction="score").fingerprint != base.fingerprint
    with_metrics = profile_dataframe(training, "m", "v1", prediction="score", metrics={"auc": 0.8})
    assert with_metrics.fingerprint != base.fingerprint


def test_larger_than_the_quantile_sample(training: pd.DataFrame) -> None:
    options = ProfileOptions(sample_size=500, quantile_sample=2_000, seed=3)
    profile = profile_dataframe(training, "m", "v", prediction="score", options=options)
    p = profile.features["income"]
    assert isinstance(p, NumericProfile)
    values = training["income"].dropna().to_numpy()
    assert len(p.sample) == 500
    # edges are deciles of a 2,000-value sample: close to the true deciles
    true_ranks = np.searchsorted(np.sort(values), p.edges) / len(values)
    assert np.abs(true_ranks - DECILES).max() < 0.04
    # yet the proportions are counted exactly against those edges
    hist, _ = np.histogram(values, bins=[-math.inf, *p.edges, math.inf])
    assert p.proportions == (hist / len(values)).tolist()
    # the same seed, the same sample; another seed, another sample
    same = profile_dataframe(training, "m", "v", prediction="score", options=options)
    assert same.features["income"] == p
    reseeded = ProfileOptions(sample_size=500, quantile_sample=2_000, seed=4)
    other = profile_dataframe(training, "m", "v", prediction="score", options=reseeded)
    assert other.features["income"].sample != p.sample  # type: ignore[union-attr]


def test_top_k_other_and_known() -> None:
    rng = np.random.default_rng(1)
    values = rng.choice(list("abcdefgh"), 10_000, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.04, 0.01])
    df = pd.DataFrame({"c": values, "p": rng.random(10_000)})
    vc = pd.Series(values).value_counts()

    p = profile_dataframe(df, "m", "v", prediction="p", options=ProfileOptions(top_k=3))
    c = p.features["c"]
    assert isinstance(c, CategoricalProfile)
    assert c.categories == list(vc.index[:3])
    assert c.proportions[:3] == [vc[k] / 10_000 for k in c.categories]
    assert c.proportions[3] == pytest.approx(vc.iloc[3:].sum() / 10_000, abs=1e-15)
    assert c.known == list("abcdefgh")

    capped = profile_dataframe(df, "m", "v", prediction="p", options=ProfileOptions(known_cap=5))
    assert capped.features["c"].known is None  # type: ignore[union-attr]


def test_high_cardinality_stays_bounded_and_finds_the_top() -> None:
    rng = np.random.default_rng(2)
    n = 200_000
    heavy = rng.choice(["h1", "h2", "h3"], n)
    tail = np.array([f"id{i}" for i in range(n)])
    values = np.where(rng.random(n) < 0.4, heavy, tail)  # ~120,000 distinct values
    df = pd.DataFrame({"c": values, "p": rng.random(n)})
    options = ProfileOptions(top_k=3, known_cap=10)  # capacity: max(2*10, 20*3) = 60 entries
    profile = profile_dataframe(df, "m", "v", prediction="p", chunk_rows=7_000, options=options)
    c = profile.features["c"]
    assert isinstance(c, CategoricalProfile)
    vc = pd.Series(values).value_counts()
    assert sorted(c.categories) == ["h1", "h2", "h3"]
    assert c.proportions[:3] == [vc[k] / n for k in c.categories]
    assert c.known is None
    again = profile_dataframe(df, "m", "v", prediction="p", chunk_rows=50_000, options=options)
    assert again.fingerprint == profile.fingerprint


def test_csv_column_with_numbers_then_text_is_categorical(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    zips = [str(10_000 + i % 50) for i in range(3_000)] + ["SW1A"] * 10
    pd.DataFrame({"zip": zips, "x": np.arange(3_010.0), "p": 0.5}).to_csv(path, index=False)
    profile = profile_file(path, "m", "v", prediction="p", chunk_rows=1_000)
    z = profile.features["zip"]
    assert isinstance(z, CategoricalProfile)
    assert {"SW1A", "10000", "10049"} <= set(z.known or [])
    assert len(z.known or []) == 51


def test_features_none_means_all_but_prediction_and_label(training: pd.DataFrame) -> None:
    profile = profile_dataframe(training, "m", "v", label="default")
    assert "default" not in profile.features and "score" in profile.features
    assert profile.prediction is None
    chosen = profile_dataframe(training, "m", "v", features=["age"], prediction="score")
    assert list(chosen.features) == ["age"]
    assert chosen.label is None


def test_json_round_trip(training: pd.DataFrame) -> None:
    profile = profile_dataframe(
        training, "m", "v", prediction="score", label="default", metrics={"auc": 0.91}
    )
    text = json.dumps(profile.to_dict(), allow_nan=False)
    restored = BaselineProfile.from_dict(json.loads(text))
    assert restored == profile
    assert restored.fingerprint == profile.fingerprint
    assert restored.metrics == {"auc": 0.91}


def test_from_dict_rejects_tampering_and_garbage(training: pd.DataFrame) -> None:
    data = profile_dataframe(training.head(500), "m", "v", prediction="score").to_dict()
    data["n_rows"] = 501
    with pytest.raises(BaselineError, match="fingerprint does not match"):
        BaselineProfile.from_dict(data)
    with pytest.raises(BaselineError, match="malformed"):
        BaselineProfile.from_dict({"model": "m"})
    del data["features"]["age"]["edges"]
    with pytest.raises(BaselineError, match="malformed"):
        BaselineProfile.from_dict(data)


def test_profile_validation() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericProfile("x", [1.0, 1.0], [0.5, 0.5, 0.0], [], 1, 0.0, 0.0, 1.0, 0.5, 0.1)
    with pytest.raises(ValueError, match="proportions"):
        CategoricalProfile("c", ["a"], [0.5], None, 1, 0.0)
    with pytest.raises(ValueError, match="finite"):
        NumericProfile("x", [math.nan], [0.5, 0.5], [], 1, 0.0, 0.0, 1.0, 0.5, 0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["nope"]}, "column 'nope' not found"),
        ({"prediction": "nope"}, "column 'nope' not found"),
        ({"label": "nope"}, "column 'nope' not found"),
        ({"prediction": "score", "features": ["score"]}, "exclude prediction"),
        ({"prediction": "score", "label": "score"}, "different columns"),
        ({"features": []}, "no feature columns"),
        ({"features": ["age", "age"]}, "distinct"),
    ],
)
def test_bad_columns(kwargs: dict[str, object], message: str, training: pd.DataFrame) -> None:
    with pytest.raises(BaselineError, match=message) as info:
        profile_dataframe(training.head(100), "m", "v1", **kwargs)  # type: ignore[arg-type]
    assert (info.value.model, info.value.version) == ("m", "v1")


def test_bad_data(tmp_path: Path) -> None:
    empty = pd.DataFrame({"x": pd.Series([], dtype=float), "p": pd.Series([], dtype=float)})
    with pytest.raises(BaselineError, match="no rows"):
        profile_dataframe(empty, "m", "v", prediction="p")
    header_only = tmp_path / "empty.csv"
    empty.to_csv(header_only, index=False)
    with pytest.raises(BaselineError, match="no rows"):
        profile_file(header_only, "m", "v", prediction="p")
    empty.to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(BaselineError, match="no rows"):
        profile_file(tmp_path / "empty.parquet", "m", "v", prediction="p")

    nulls = pd.DataFrame({"x": [1.0, 2.0], "gone": [None, None], "p": [0.1, 0.2]})
    with pytest.raises(BaselineError, match="'gone' is entirely null"):
        profile_dataframe(nulls, "m", "v", prediction="p")
    nulls.to_csv(tmp_path / "nulls.csv", index=False)
    with pytest.raises(BaselineError, match="'gone' is entirely null"):
        profile_file(tmp_path / "nulls.csv", "m", "v", prediction="p")

    infinite = pd.DataFrame({"x": [1.0, math.inf]})
    with pytest.raises(BaselineError, match="infinite"):
        profile_dataframe(infinite, "m", "v")
    with pytest.raises(BaselineError, match="too large"):
        profile_dataframe(pd.DataFrame({"x": [1e300, -1e300]}), "m", "v")
    with pytest.raises(BaselineError, match="reserved"):
        profile_dataframe(pd.DataFrame({"__prediction__": [1.0]}), "m", "v")
    with pytest.raises(BaselineError, match="distinct strings"):
        profile_dataframe(pd.DataFrame({0: [1.0]}), "m", "v")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="not found"):
        profile_file(tmp_path / "missing.csv", "m", "v")
    (tmp_path / "train.json").write_text("{}")
    with pytest.raises(BaselineError, match="unsupported file type"):
        profile_file(tmp_path / "train.json", "m", "v")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BaselineError, match="cannot read"):
        profile_file(tmp_path / "broken.parquet", "m", "v")
    with pytest.raises(ValueError, match="chunk_rows"):
        profile_file(tmp_path / "broken.parquet", "m", "v", chunk_rows=0)
