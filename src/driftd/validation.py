"""Validation metrics of a baseline, computed from its labelled training/validation data.

``driftd baseline create --label y --prediction score`` stores them with the
baseline; production windows are judged against them. The task is read from
the columns as it is from live events: 0/1 labels with scores in [0, 1] make
a binary classification (threshold 0.5, positive class 1), class-probability
columns (``--probabilities CLASS=COLUMN``) a classification with
probabilities, other numbers a regression, anything else a classification of
labels. Metrics stated with ``--metric`` win over computed ones.

>>> import pandas as pd
>>> frame = pd.DataFrame({"y": [0, 1, 1, 0], "score": [0.2, 0.9, 0.4, 0.1]})
>>> m = validation_metrics(frame, "y", "score")
>>> m["accuracy"], m["auc"]
(0.75, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from driftd.detectors.performance import classification_metrics, regression_metrics

__all__ = ["read_columns", "validation_metrics"]


def read_columns(path: str, columns: Sequence[str]) -> pd.DataFrame:
    """Only ``columns`` of a CSV or Parquet training file."""
    if path.lower().endswith((".parquet", ".pq")):
        frame: pd.DataFrame = pq.read_table(path, columns=list(columns)).to_pandas()
        return frame
    return pd.read_csv(path, usecols=list(columns))


def _text(values: pd.Series) -> list[str]:
    if pd.api.types.is_bool_dtype(values):
        return ["true" if v else "false" for v in values]
    if pd.api.types.is_numeric_dtype(values):
        return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
    return [str(v) for v in values]


def validation_metrics(
    frame: pd.DataFrame,
    label: str,
    prediction: str | None,
    probabilities: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """The performance metrics of ``prediction`` (or the probability columns) against ``label``."""
    data = frame.dropna(subset=[label] + ([prediction] if prediction else []))
    if data.empty:
        return {}
    y = data[label]
    if probabilities:
        classes = list(probabilities)
        proba = data[[probabilities[c] for c in classes]].to_numpy(dtype=np.float64)
        predicted = (
            _text(data[prediction]) if prediction else [classes[i] for i in proba.argmax(axis=1)]
        )
        return classification_metrics(_text(y), predicted, proba, classes)
    if prediction is None:
        return {}
    p = data[prediction]
    numeric = pd.api.types.is_numeric_dtype
    if numeric(y) and numeric(p) and not pd.api.types.is_bool_dtype(y):
        yv, pv = y.to_numpy(dtype=np.float64), p.to_numpy(dtype=np.float64)
        if np.all((yv == 0) | (yv == 1)) and np.all((pv >= 0) & (pv <= 1)):
            truth = ["1" if v else "0" for v in yv]
            predicted = ["1" if v >= 0.5 else "0" for v in pv]
            proba = np.column_stack([1 - pv, pv])
            return classification_metrics(truth, predicted, proba, ["0", "1"], positive="1")
        return regression_metrics(yv, pv)
    return classification_metrics(_text(y), _text(p))
