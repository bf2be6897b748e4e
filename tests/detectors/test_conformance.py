"""One conformance suite over every registered detector (River's ``yield_checks`` pattern).

Every window test: agrees with a scipy/numpy oracle computed from the raw
values, survives a pickle round-trip, keeps bounded memory over many windows
and baselines. Every stream detector: agrees with River fed one value at a
time, resumes from its state bytes exactly, resets, keeps bounded state after
warm-up. A registry entry without an oracle fails the suite: adding a detector
means adding its oracle here.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pytest
from river import drift
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftd.detectors import (
    PSI_PSEUDOCOUNT,
    STREAM_DETECTORS,
    WINDOW_TESTS,
    BaselineProfile,
    Binner,
    CategoricalProfile,
    NumericProfile,
    profile_dataframe,
)
from driftd.detectors.base import ColumnWindow, Finding
from driftd.detectors.reference import reference_grid
from driftd.events import PredictionRecord

N_REF, N_WIN = 20_000, 1_500
CATS = ["a", "b", "c", "d", "e", "f"]


def _reference(seed: int = 0) -> tuple[pd.DataFrame, BaselineProfile]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, N_REF)
    x[rng.random(N_REF) < 0.05] = np.nan
    df = pd.DataFrame({
        "x": x,
        "k": rng.integers(0, 30, N_REF).astype(np.int64),  # ties: integer values
        "c": rng.choice(CATS[:5], N_REF, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
    })  # fmt: skip
    return df, profile_dataframe(df, "m", "v1")


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, BaselineProfile]:
    return _reference()


def _window(seed: int, shift: float) -> tuple[dict[str, list[Any]], list[PredictionRecord]]:
    """Raw live values per column (None = null, a wrong-typed value kept as is) and records."""
    rng = np.random.default_rng(seed)
    x: list[Any] = [float(v) for v in rng.normal(shift, 1 + shift, N_WIN)]
    k: list[Any] = [int(v) for v in rng.integers(0, 30 + int(10 * shift), N_WIN)]
    c: list[Any] = [str(v) for v in rng.choice(CATS, N_WIN, p=[0.35, 0.3, 0.15, 0.1, 0.05, 0.05])]
    for i in rng.choice(N_WIN, 80, replace=False):
        x[i] = None
    for i in rng.choice(N_WIN, 10, replace=False):
        x[i] = "text"  # a mismatch
        c[i] = 7  # a mismatch
    records = []
    for i in range(N_WIN):
        num = {n: float(v) for n, v in (("x", x[i]), ("k", k[i]), ("c", c[i]))
               if isinstance(v, int | float) and v is not None}  # fmt: skip
        cat = {n: v for n, v in (("x", x[i]), ("c", c[i])) if isinstance(v, str)}
        records.append(PredictionRecord(
            event_id=str(i), model="m", model_version="", timestamp_ms=i, received_ms=0,
            request_id="", num=num, cat=cat, nulls=[], pred_num=None, pred_label="",
            pred_proba={}, segments={}, latency_ms=None,
        ))  # fmt: skip
    return {"x": x, "k": k, "c": c}, records


def _numbers(values: list[Any]) -> np.ndarray:
    return np.array([v for v in values if isinstance(v, int | float) and v is not None], float)


def _shares(profile: CategoricalProfile, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Expected and actual bins from raw strings: top-K, other, unseen (empty bins dropped)."""
    known = set(profile.known or [])
    strings = [v for v in values if isinstance(v, str)]
    actual = [sum(v == c for v in strings) for c in profile.categories]
    actual += [sum(v not in profile.categories and v in known for v in strings)]
    actual += [sum(v not in known for v in strings)]
    expected = np.array([*profile.proportions, 0.0])
    return expected, np.array(actual, float)


def _bins(profile: Any, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Expected proportions and actual counts: numpy's histogram, or the shares by hand."""
    if isinstance(profile, NumericProfile):
        edges = np.concatenate([[-np.inf], profile.edges, [np.inf]])
        actual = np.histogram(_numbers(values), bins=edges)[0].astype(float)
        return np.asarray(profile.proportions), actual
    return _shares(profile, values)


def oracle_psi(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    expected, actual = _bins(profile, values)
    keep = (expected > 0) | (actual > 0)
    expected, actual = expected[keep], actual[keep]
    a0, m, n, b = PSI_PSEUDOCOUNT, profile.count, actual.sum(), keep.sum()
    a = (actual + a0) / (n + a0 * b)
    e = (expected * m + a0) / (m + a0 * b)
    value = float(((a - e) * np.log(a / e)).sum())
    return value, float(stats.chi2.sf(value * n * m / (n + m), b - 1))


def oracle_ks(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    result = stats.ks_2samp(_numbers(values), np.asarray(profile.sample), method="asymp")
    return float(result.statistic), float(result.pvalue)


def oracle_chi2(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    expected, actual = _shares(profile, values)
    table = np.vstack([actual, expected * profile.count])
    table = table[:, table.sum(axis=0) > 0]
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def oracle_js(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    expected, actual = _bins(profile, values)
    return float(jensenshannon(actual / actual.sum(), expected, base=2)), None


def _is_missing(v: Any) -> bool:
    return v is None


def _wrong_type(profile: Any, v: Any) -> bool:
    if v is None:
        return False
    return isinstance(v, str) if isinstance(profile, NumericProfile) else not isinstance(v, str)


def oracle_missing(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    k = sum(_is_missing(v) for v in values)
    p = stats.binomtest(k, len(values), profile.null_rate, alternative="greater").pvalue
    return k / len(values), float(p)


def oracle_mismatch(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    return sum(_wrong_type(profile, v) for v in values) / len(values), None


def oracle_unseen(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    strings = [v for v in values if isinstance(v, str)]
    return sum(v not in set(profile.known) for v in strings) / len(strings), None


def oracle_out_of_range(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    x = _numbers(values)
    k = int(((x < profile.min) | (x > profile.max)).sum())
    p = stats.binomtest(k, len(x), 2 / (profile.count + 1), alternative="greater").pvalue
    return k / len(x), float(p)


def oracle_spread(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    x = _numbers(values)
    q = np.quantile(np.asarray(profile.sample), [0.25, 0.75])  # the tails, by hand
    edges, props = np.asarray(profile.edges), np.asarray(profile.proportions)
    cum = np.cumsum(props)
    low_edge = edges[np.flatnonzero(cum <= 0.25 + 1e-9).max()]
    high_edge = edges[np.flatnonzero(cum - props >= 0.75 - 1e-9).min() - 1]
    assert low_edge <= q[0] + 1e-9 and high_edge >= q[1] - 1e-9
    share = float(((x < low_edge) | (x >= high_edge)).mean())
    p0 = float(props[(cum <= 0.25 + 1e-9) | (cum - props >= 0.75 - 1e-9)].sum())
    se = np.sqrt(p0 * (1 - p0) * (1 / len(x) + 1 / profile.count))
    return share, float(2 * stats.norm.sf(abs(share - p0) / se))


def oracle_wasserstein(profile: Any, values: list[Any]) -> tuple[float, float | None]:
    """scipy's W1 of the values (clipped to the baseline's range) and the reference sample."""
    x = np.clip(_numbers(values), profile.min, profile.max)
    return float(stats.wasserstein_distance(x, np.asarray(profile.sample))), None


def wasserstein_bound(profile: Any, values: list[Any]) -> float:
    """Half of (the window's share strictly inside each grid interval x its width), summed."""
    grid, _ = reference_grid(profile)
    x = np.clip(_numbers(values), profile.min, profile.max)
    inside = np.array([np.count_nonzero((x > a) & (x < b)) for a, b in pairwise(grid)])
    return float((inside / len(x) * np.diff(grid)).sum() / 2)


ORACLES: dict[str, Callable[[Any, list[Any]], tuple[float, float | None]]] = {
    "psi": oracle_psi,
    "ks": oracle_ks,
    "chi2": oracle_chi2,
    "js": oracle_js,
    "wasserstein": oracle_wasserstein,
    "spread": oracle_spread,
    "missing_rate": oracle_missing,
    "type_mismatch": oracle_mismatch,
    "unseen": oracle_unseen,
    "out_of_range": oracle_out_of_range,
}


def test_every_registered_window_test_has_an_oracle() -> None:
    assert set(ORACLES) == set(WINDOW_TESTS)


def _findings(
    name: str, profile: BaselineProfile, records: list[PredictionRecord]
) -> dict[str, Finding]:
    test = WINDOW_TESTS[name]()
    counts = Binner(profile).count(records)
    out = {}
    for column, reference in profile.features.items():
        if reference.kind in test.kinds:
            finding = test.judge(reference, counts.column(column))
            if finding is not None:
                out[column] = finding
    return out


@pytest.mark.parametrize("shift", [0.0, 0.3])
@pytest.mark.parametrize("name", sorted(WINDOW_TESTS))
def test_window_test_agrees_with_its_oracle(name: str, shift: float, reference: Any) -> None:
    _, profile = reference
    raw, records = _window(seed=11, shift=shift)
    found = _findings(name, profile, records)
    assert found, f"{name} judged no column"
    for column, finding in found.items():
        value, p_value = ORACLES[name](profile.features[column], raw[column])
        assert finding.metric == name
        if name == "wasserstein":  # from grid counts: within its documented bound
            bound = wasserstein_bound(profile.features[column], raw[column])
            assert abs(finding.value - value) <= bound + 1e-12, column
            assert bound < 0.05 * max(value, profile.features[column].std), column
            continue
        assert finding.value == pytest.approx(value, rel=1e-9, abs=1e-12), column
        if p_value is None:
            assert finding.p_value is None
        else:
            assert finding.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-300), column


@pytest.mark.parametrize("name", sorted(WINDOW_TESTS))
def test_window_test_pickles_and_judges_alike(name: str, reference: Any) -> None:
    _, profile = reference
    _, records = _window(seed=12, shift=0.1)
    test = WINDOW_TESTS[name]()
    column = next(c for c, p in profile.features.items() if p.kind in test.kinds)
    window = Binner(profile).count(records).column(column)
    before = test.judge(profile.features[column], window)
    again = pickle.loads(pickle.dumps(test))
    assert again.judge(profile.features[column], window) == before


@pytest.mark.parametrize("name", sorted(WINDOW_TESTS))
def test_window_test_memory_is_bounded_over_many_baselines(name: str) -> None:
    test = WINDOW_TESTS[name]()
    sizes = []
    for i in range(600):  # more baselines than any cache keeps
        profile = NumericProfile("x", [0.0], [0.5, 0.5], [float(i), float(i + 1)], 2, 0.0,
                                 float(i), float(i + 1), i + 0.5, 0.7)  # fmt: skip
        _, cells = reference_grid(profile)  # a window just like the reference sample
        window = ColumnWindow("x", 2, np.array([1, 1]), 0, 0, grid=cells)
        if "numeric" in test.kinds:
            test.judge(profile, window)
        sizes.append(len(pickle.dumps(test)))
    assert max(sizes[400:]) <= sizes[300] * 1.05 + 64


def _stream(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(0, 1, 3_000), rng.normal(1.5, 1, 3_000), rng.normal(0, 1, 3_000)]


@pytest.mark.parametrize("name", sorted(STREAM_DETECTORS))
def test_stream_detector_agrees_with_river_one_value_at_a_time(name: str) -> None:
    oracles = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley, "kswin": drift.KSWIN}
    oracle = oracles[name](**({"seed": 0} if name == "kswin" else {}))
    values = _stream(1)
    want = []
    for i, v in enumerate(values):
        oracle.update(float(v))  # type: ignore[no-untyped-call]
        if oracle.drift_detected:
            want.append(i)
    detector = STREAM_DETECTORS[name]()
    got = [
        i + 1_000 * b
        for b in range(9)
        for i in detector.update_many(values[b * 1_000 : (b + 1) * 1_000])
    ]
    assert got == want and got


@pytest.mark.parametrize("name", sorted(STREAM_DETECTORS))
def test_stream_detector_resumes_from_its_state_and_resets(name: str) -> None:
    cls = STREAM_DETECTORS[name]
    values = _stream(2)
    straight = cls()
    whole = straight.update_many(values)
    first = cls()
    part = first.update_many(values[:4_500])
    resumed = cls.restore(first.state())  # a restart, or another collector after a partition move
    part += [i + 4_500 for i in resumed.update_many(values[4_500:])]
    assert part == whole
    assert resumed.state() == straight.state()
    resumed.reset()
    assert resumed.state() == cls().state()


@pytest.mark.parametrize("name", sorted(STREAM_DETECTORS))
def test_stream_detector_state_is_bounded_after_warm_up(name: str) -> None:
    detector = STREAM_DETECTORS[name]()
    rng = np.random.default_rng(3)
    # KSWIN keeps its last window_size (100) values and runs a KS test on every update
    # (~4,400 a second): batches of 500 still make 100 windows before and after warm-up
    batch = 500 if name == "kswin" else 5_000
    sizes = []
    for _ in range(40):
        detector.update_many(rng.normal(0, 1, batch))
        sizes.append(len(detector.state()))
    assert max(sizes[20:]) <= 1.2 * max(sizes[:20])


@pytest.mark.parametrize("cut", [0, 1, 2_999, 3_000, 5_000])
def test_adwin_batches_match_river_one_by_one_with_gaps(cut: int) -> None:
    """Batched ADWIN (values handed to River's compiled update) against River's own update:
    same changes, same state, NaN skipped, a change on a batch's last value included."""
    values = _stream(4)
    values[::7] = np.nan
    oracle = drift.ADWIN()
    want = []
    for i, v in enumerate(values.tolist()):
        if not math.isnan(v):
            oracle.update(v)  # type: ignore[no-untyped-call]
            if oracle.drift_detected:
                want.append(i)
    assert want
    cuts = sorted({cut, *(w + 1 for w in want), len(values)})  # batches ending on a change
    detector = STREAM_DETECTORS["adwin"]()
    got: list[int] = []
    start = 0
    for end in cuts:
        got += [i + start for i in detector.update_many(values[start:end])]
        start = end
    assert got == want
    assert pickle.dumps(detector._river) == pickle.dumps(oracle)
