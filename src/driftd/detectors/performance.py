"""Model performance from labelled predictions: pure numpy, checked against scikit-learn.

Classification takes the true and predicted labels and, when the model gave
them, class probabilities (one column per class of ``classes``); regression
takes true and predicted numbers. Each function returns a flat
``{metric: value}``; per-class metrics of a multiclass model are named
``<metric>.<class>`` (``recall.spam``). A metric that is undefined on the
data (AUC with one class present, MAPE with a zero target) is left out, never
reported as NaN.

>>> m = classification_metrics(["a", "b", "a", "b"], ["a", "b", "b", "b"])
>>> m["accuracy"], round(m["f1"], 4)
(0.75, 0.8)
>>> regression_metrics([1.0, 2.0, 4.0], [1.0, 3.0, 3.0])["mae"]
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

__all__ = [
    "HIGHER_IS_BETTER",
    "binary_auc",
    "calibration_error",
    "classification_metrics",
    "regression_metrics",
]

Floats = npt.NDArray[np.float64]

HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "auc", "r2"})
"""Metrics where a drop is bad; for every other metric (errors, losses) a rise is."""

_EPS = 1e-15


def binary_auc(positive: npt.NDArray[np.bool_], score: Floats) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; ``None`` if one class.

    >>> binary_auc(np.array([False, True, True]), np.array([0.1, 0.8, 0.4]))
    1.0
    """
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_error(correct: Floats, confidence: Floats, bins: int = 10) -> float:
    """Expected calibration error: the count-weighted gap between accuracy and confidence
    in ``bins`` equal-width confidence bins (the top class's probability), right-closed
    like scikit-learn's ``calibration_curve``.

    >>> calibration_error(np.array([1.0, 0.0]), np.array([0.9, 0.9]))
    0.4
    """
    index = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence)
    hit = np.bincount(index, weights=correct, minlength=bins)
    conf = np.bincount(index, weights=confidence, minlength=bins)
    return float(np.abs(hit - conf).sum() / len(correct))


def classification_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    proba: Floats | None = None,
    classes: Sequence[str] | None = None,
    *,
    positive: str | None = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary: of ``positive``; multiclass: macro and
    per class) and, with ``proba`` (rows x ``classes``), AUC, log loss, Brier score, ECE."""
    truth = np.asarray(y_true, dtype=object)
    pred = np.asarray(y_pred, dtype=object)
    if len(truth) != len(pred) or len(truth) == 0:
        raise ValueError("y_true and y_pred must be non-empty and of equal length")
    labels = sorted(set(truth.tolist()) | set(pred.tolist()) | set(classes or ()))
    out: dict[str, float] = {"accuracy": float(np.mean(truth == pred))}
    per_class: dict[str, tuple[float, float, float]] = {}
    for label in labels:
        t, p = truth == label, pred == label
        tp = float(np.sum(t & p))
        precision = tp / p.sum() if p.sum() else 0.0
        recall = tp / t.sum() if t.sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = (float(precision), float(recall), float(f1))
    if len(labels) == 2:
        pos = _positive(labels, positive)
        out["precision"], out["recall"], out["f1"] = per_class[pos]
    else:
        present = [c for c in labels if np.any(truth == c) or np.any(pred == c)]
        for i, name in enumerate(("precision", "recall", "f1")):
            out[name] = float(np.mean([per_class[c][i] for c in present]))
            for c in labels:
                out[f"{name}.{c}"] = per_class[c][i]
    if proba is not None and classes is not None:
        probs = np.asarray(proba, dtype=np.float64)
        out.update(_probabilistic(truth, probs, list(classes), _positive(labels, positive)))
    return out


def _positive(labels: Sequence[str], positive: str | None) -> str:
    """The positive class of a binary problem: ``positive`` if present, else the last label."""
    return positive if positive is not None and positive in labels else labels[-1]


def _probabilistic(
    truth: npt.NDArray[np.object_], proba: Floats, classes: list[str], positive: str
) -> dict[str, float]:
    if proba.shape != (len(truth), len(classes)):
        raise ValueError(f"proba must be {len(truth)} x {len(classes)}, got {proba.shape}")
    onehot = np.stack([truth == c for c in classes], axis=1).astype(np.float64)
    out: dict[str, float] = {}
    if np.any(onehot.sum(axis=1) == 0):  # a true class the model never scores: undefined
        return out
    norm = proba / np.maximum(proba.sum(axis=1, keepdims=True), _EPS)
    clipped = np.clip(norm, _EPS, 1 - _EPS)
    out["log_loss"] = float(-np.mean(np.log(clipped[onehot.astype(bool)])))
    top = norm.argmax(axis=1)
    correct = (onehot[np.arange(len(truth)), top]).astype(np.float64)
    out["ece"] = calibration_error(correct, norm.max(axis=1))
    if len(classes) == 2:
        k = classes.index(positive) if positive in classes else 1
        out["brier"] = float(np.mean((norm[:, k] - onehot[:, k]) ** 2))
        auc = binary_auc(onehot[:, k].astype(bool), norm[:, k])
    else:
        out["brier"] = float(np.mean(np.sum((norm - onehot) ** 2, axis=1)))
        aucs = [binary_auc(onehot[:, i].astype(bool), norm[:, i]) for i in range(len(classes))]
        for c, a in zip(classes, aucs, strict=True):
            if a is not None:
                out[f"auc.{c}"] = a
        defined = [a for a in aucs if a is not None]
        auc = float(np.mean(defined)) if len(defined) == len(classes) else None
    if auc is not None:
        out["auc"] = auc
    return out


def regression_metrics(
    y_true: Sequence[float] | Floats, y_pred: Sequence[float] | Floats
) -> dict[str, float]:
    """MAE, RMSE, MAPE (left out when a target is 0) and R² (left out for a constant target)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or len(t) == 0:
        raise ValueError("y_true and y_pred must be non-empty and of equal length")
    err = p - t
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    if np.all(t != 0):
        out["mape"] = float(np.mean(np.abs(err) / np.abs(t)))
    total = float(np.sum((t - t.mean()) ** 2))
    if total > 0:
        out["r2"] = 1.0 - float(np.sum(err**2)) / total
    return out
