"""One performance window: labelled predictions in, :class:`WindowResult` records out.

The window is a span of prediction time (``window_ms``): a label counts in the
window of the prediction it judges, never of its own arrival. Every result
names the feature :data:`OUTCOME_FEATURE`; a segment slice carries
``segment="key=value"``. Besides the metrics of
:mod:`driftd.detectors.performance`, each window reports
``labelled_fraction`` and ``label_delay_p50_s`` / ``label_delay_p95_s`` (so an
operator sees labels stop arriving), and for accuracy and every metric the
baseline states, ``<metric>_ci_low`` / ``<metric>_ci_high``.

The task is read from the data: string (or bool) outcomes make a
classification; numeric outcomes of 0/1 with scores in [0, 1] a binary
classification at threshold 0.5 (positive class ``"1"``); other numbers a
regression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from driftd.detectors.perf_verdict import PerformancePolicy, bootstrap_interval, wilson
from driftd.detectors.performance import classification_metrics, regression_metrics
from driftd.monitoring.results import Severity, WindowResult
from driftd.storage.records import LabelledPrediction

__all__ = [
    "OUTCOME_FEATURE",
    "Labelled",
    "WindowSpec",
    "event_errors",
    "labelled_results",
    "window_results",
]

OUTCOME_FEATURE = "__outcome__"


def _text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class Labelled:
    """The labelled rows of a window as arrays, with the task they make."""

    task: str  # "classification" | "regression"
    truth: list[str]
    predicted: list[str]
    proba: np.ndarray | None
    classes: list[str] | None
    y_true: np.ndarray
    y_pred: np.ndarray
    positive: str | None

    @classmethod
    def of(cls, rows: Sequence[LabelledPrediction]) -> Labelled:
        nums = [r.outcome_num for r in rows]
        scores = [r.pred_num for r in rows]
        if all(r.outcome_label == "" for r in rows) and None not in nums and None not in scores:
            y = np.asarray(nums, dtype=np.float64)
            s = np.asarray(scores, dtype=np.float64)
            if np.all((y == 0) | (y == 1)) and np.all((s >= 0) & (s <= 1)):
                return cls(
                    "classification",
                    ["1" if v else "0" for v in y],
                    ["1" if v >= 0.5 else "0" for v in s],
                    np.column_stack([1 - s, s]),
                    ["0", "1"],
                    y,
                    s,
                    "1",
                )
            return cls("regression", [], [], None, None, y, s, None)
        truth = [r.outcome_label or _text(r.outcome_num or 0.0) for r in rows]
        predicted = [
            r.pred_label or ("" if r.pred_num is None else _text(r.pred_num)) for r in rows
        ]
        proba = classes = None
        if all(r.pred_proba for r in rows):
            classes = sorted({c for r in rows for c in r.pred_proba})
            proba = np.array([[r.pred_proba.get(c, 0.0) for c in classes] for r in rows])
        empty = np.empty(0)
        return cls("classification", truth, predicted, proba, classes, empty, empty, None)

    def metrics(self, index: np.ndarray | None = None) -> dict[str, float]:
        if self.task == "regression":
            if index is None:
                return regression_metrics(self.y_true, self.y_pred)
            return regression_metrics(self.y_true[index], self.y_pred[index])
        truth, predicted, proba = self.truth, self.predicted, self.proba
        if index is not None:
            truth = [truth[i] for i in index]
            predicted = [predicted[i] for i in index]
            proba = None if proba is None else proba[index]
        return classification_metrics(truth, predicted, proba, self.classes, positive=self.positive)

    def errors(self) -> np.ndarray:
        """Per event: 1.0 for a misclassification, else 0.0; the absolute error of a regression."""
        if self.task == "regression":
            return np.asarray(np.abs(self.y_pred - self.y_true), dtype=np.float64)
        return np.array([t != p for t, p in zip(self.truth, self.predicted, strict=True)], float)


def event_errors(rows: Sequence[LabelledPrediction]) -> np.ndarray:
    """The error of each labelled row (see :meth:`Labelled.errors`)."""
    return Labelled.of(rows).errors() if rows else np.empty(0)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Who the results are for and what they are judged against."""

    model: str
    baseline_version: str
    baseline: Mapping[str, float]
    policy: PerformancePolicy
    window_ms: int
    resamples: int = 200


def window_results(
    spec: WindowSpec, start_ms: int, rows: Sequence[LabelledPrediction], segment: str = ""
) -> list[WindowResult]:
    """The results of one window (or one segment's slice of it); none for an empty window."""
    return labelled_results(spec, start_ms, [r for r in rows if r.labelled], len(rows), segment)


def labelled_results(
    spec: WindowSpec,
    start_ms: int,
    labelled: Sequence[LabelledPrediction],
    total: int,
    segment: str = "",
) -> list[WindowResult]:
    """:func:`window_results` from the labelled rows alone and the count of all rows
    (labelled or not) of the window or slice; none for an empty one."""
    if not total:
        return []

    def result(metric: str, value: float, n: int, severity: Severity = "ok") -> WindowResult:
        base = spec.baseline.get(metric)
        effect = None if base is None else value - base
        return WindowResult(
            spec.model,
            spec.baseline_version,
            start_ms // spec.window_ms,
            start_ms,
            start_ms + spec.window_ms,
            n,
            OUTCOME_FEATURE,
            metric,
            value,
            None,
            effect,
            severity,
            segment,
        )

    out = [result("labelled_fraction", len(labelled) / total, total)]
    if not labelled:
        return out
    delays = [max(0, (r.label_received_ms or 0) - r.timestamp_ms) / 1000 for r in labelled]
    p50, p95 = np.percentile(delays, [50, 95])
    out += [result("label_delay_p50_s", float(p50), len(labelled))]
    out += [result("label_delay_p95_s", float(p95), len(labelled))]
    data = Labelled.of(labelled)
    values = data.metrics()
    n = len(labelled)
    for metric, value in sorted(values.items()):
        interval = _interval(spec, data, metric, values, n)
        severity: Severity = "ok"
        base = spec.baseline.get(metric)
        if base is not None:
            severity = spec.policy.severity(metric, value, base, interval, n=n)  # type: ignore[assignment]
        out.append(result(metric, value, n, severity))
        if interval is not None:
            out.append(result(f"{metric}_ci_low", interval[0], n))
            out.append(result(f"{metric}_ci_high", interval[1], n))
    return out


def _interval(
    spec: WindowSpec, data: Labelled, metric: str, values: Mapping[str, float], n: int
) -> tuple[float, float] | None:
    if metric == "accuracy":
        return wilson(round(values["accuracy"] * n), n)
    if metric not in spec.baseline:
        return None

    def statistic(index: np.ndarray) -> float | None:
        try:
            return data.metrics(index).get(metric)
        except ValueError:
            return None

    found = bootstrap_interval(statistic, n, resamples=spec.resamples)
    if found is None or not all(math.isfinite(x) for x in found):
        return None
    return found
