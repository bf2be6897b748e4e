"""Performance metrics and their verdicts, against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from driftd.detectors.perf_verdict import PerformancePolicy, bootstrap_interval, drop, wilson
from driftd.detectors.performance import (
    binary_auc,
    calibration_error,
    classification_metrics,
    regression_metrics,
)
from driftd.validation import validation_metrics


def _binary(seed: int, n: int = 500) -> tuple[list[str], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.3
    score = np.clip(np.where(truth, 0.65, 0.35) + rng.normal(0, 0.2, n), 0, 1)
    score[:10] = 0.5  # ties
    proba = np.column_stack([1 - score, score])
    y_true = ["fraud" if t else "ok" for t in truth]
    y_pred = ["fraud" if s >= 0.5 else "ok" for s in score]
    return y_true, y_pred, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_scikit_learn(seed: int) -> None:
    y_true, y_pred, proba = _binary(seed)
    got = classification_metrics(y_true, y_pred, proba, ["ok", "fraud"], positive="fraud")
    pos = np.array(y_true) == "fraud"
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    for name, fn in (
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ):
        assert got[name] == pytest.approx(fn(y_true, y_pred, pos_label="fraud"))
    assert got["auc"] == pytest.approx(sk.roc_auc_score(pos, proba[:, 1]))
    assert got["log_loss"] == pytest.approx(sk.log_loss(pos, proba[:, 1]))
    assert got["brier"] == pytest.approx(sk.brier_score_loss(pos, proba[:, 1]))
    # ECE on the top class's confidence, from scikit-learn's reliability curve
    correct = (proba.argmax(axis=1) == pos.astype(int)).astype(float)
    confidence = proba.max(axis=1)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=10)
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], confidence), minlength=10)
    weights = counts[counts > 0] / len(correct)
    expected = float(np.sum(weights * np.abs(prob_true - prob_pred)))
    assert got["ece"] == pytest.approx(expected)


def test_multiclass_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    classes = ["a", "b", "c"]
    n = 600
    truth = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), truth] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_true = [classes[i] for i in truth]
    y_pred = [classes[i] for i in proba.argmax(axis=1)]
    got = classification_metrics(y_true, y_pred, proba, classes)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert got["f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="macro"))
    assert got["precision"] == pytest.approx(sk.precision_score(y_true, y_pred, average="macro"))
    per_class = sk.recall_score(y_true, y_pred, average=None, labels=classes)
    assert [got[f"recall.{c}"] for c in classes] == pytest.approx(per_class)
    assert got["auc"] == pytest.approx(sk.roc_auc_score(truth, proba, multi_class="ovr"))
    assert got["log_loss"] == pytest.approx(sk.log_loss(truth, proba))
    onehot = np.eye(3)[truth]
    assert got["brier"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    assert got["auc.b"] == pytest.approx(sk.roc_auc_score(truth == 1, proba[:, 1]))


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    t = rng.normal(10, 3, 400)
    p = t + rng.normal(0.5, 1, 400)
    got = regression_metrics(t, p)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(t, p))
    assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(t, p)))
    assert got["mape"] == pytest.approx(sk.mean_absolute_percentage_error(t, p))
    assert got["r2"] == pytest.approx(sk.r2_score(t, p))


def test_undefined_metrics_are_left_out() -> None:
    assert "mape" not in regression_metrics([0.0, 1.0], [0.5, 1.0])
    assert "r2" not in regression_metrics([1.0, 1.0], [0.5, 1.0])
    one_class = classification_metrics(
        ["a", "a"], ["a", "b"], np.array([[0.9, 0.1]] * 2), ["a", "b"]
    )
    assert "auc" not in one_class
    assert binary_auc(np.array([True, True]), np.array([0.1, 0.2])) is None
    with pytest.raises(ValueError, match="equal length"):
        classification_metrics([], [])


def test_calibration_error_by_hand() -> None:
    # bin 0.9: 2 events, 1 right → |0.5 - 0.9| * 2/4; bin 0.6: 2 right → |1 - 0.6| * 2/4
    got = calibration_error(np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.9, 0.9, 0.6, 0.6]))
    assert got == pytest.approx(0.2 + 0.2)


def test_wilson_matches_a_hand_computation_and_bootstrap_covers_the_mean() -> None:
    lo, hi = wilson(80, 100)
    # Wilson 95%: centre (0.8 + z²/200)/(1 + z²/100), z = 1.959964
    z = 1.959963984540054
    centre = (0.8 + z * z / 200) / (1 + z * z / 100)
    half = z * np.sqrt(0.8 * 0.2 / 100 + z * z / 40_000) / (1 + z * z / 100)
    assert (lo, hi) == pytest.approx((centre - half, centre + half))
    values = np.random.default_rng(0).normal(5, 1, 2000)
    interval = bootstrap_interval(lambda i: float(values[i].mean()), 2000, seed=3)
    assert interval is not None
    assert interval[0] < values.mean() < interval[1]
    assert interval[1] - interval[0] == pytest.approx(
        2 * 1.96 * values.std() / np.sqrt(2000), rel=0.25
    )


def test_policy_needs_labels_a_drop_and_one_outside_the_noise() -> None:
    policy = PerformancePolicy(warning=0.05, critical=0.10, min_labelled=100)
    assert policy.severity("accuracy", 0.5, 0.9, (0.4, 0.6), n=99) == "ok"
    assert policy.severity("accuracy", 0.84, 0.9, (0.82, 0.86), n=1000) == "warning"
    assert policy.severity("mae", 2.0, 1.0, (1.8, 2.2), n=1000) == "critical"
    assert policy.severity("mae", 2.0, 1.0, (0.9, 3.0), n=1000) == "ok"
    relative = PerformancePolicy(warning=0.2, critical=0.5, relative=True)
    assert relative.severity("rmse", 1.3, 1.0, None, n=1000) == "warning"
    assert drop("recall.spam", 0.7, 0.8) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warning"):
        PerformancePolicy(warning=0.2, critical=0.1)


def test_validation_metrics_read_the_task_like_live_events() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    score = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    frame = pd.DataFrame({"y": y, "score": score, "amount": score * 100 + y,
                          "cls": np.where(y == 1, "yes", "no"),
                          "guess": np.where(score >= 0.5, "yes", "no"),
                          "p_yes": score, "p_no": 1 - score})  # fmt: skip
    binary = validation_metrics(frame, "y", "score")
    assert binary["auc"] == pytest.approx(sk.roc_auc_score(y, score))
    assert binary["accuracy"] == pytest.approx(sk.accuracy_score(y, score >= 0.5))
    regression = validation_metrics(frame, "amount", "score")
    assert regression["mae"] == pytest.approx(sk.mean_absolute_error(frame.amount, score))
    labels = validation_metrics(frame, "cls", None, {"no": "p_no", "yes": "p_yes"})
    assert labels["auc"] == pytest.approx(sk.roc_auc_score(y, score))
    assert validation_metrics(frame, "cls", "guess")["accuracy"] == binary["accuracy"]
    assert validation_metrics(frame, "cls", None) == {}
