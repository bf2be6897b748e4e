"""Helpers shared by the monitoring tests: stores holding one baseline, prediction records."""

from __future__ import annotations

from typing import Any

import pandas as pd

from driftd.baselines import create_baseline
from driftd.events import Coordinates, PredictionRecord
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

Stores = tuple[InMemoryEventStore, InMemoryControlStore]


def stores_with(frame: pd.DataFrame, **baseline: Any) -> Stores:
    """Fresh in-memory stores holding the baseline ``m``/``v1`` of ``frame``."""
    store, control = InMemoryEventStore(), InMemoryControlStore()
    store.migrate()
    control.migrate()
    create_baseline(store, control, frame, "m", "v1", **baseline)
    return store, control


def prediction(i: int, **fields: Any) -> PredictionRecord:
    """Event ``i`` of model ``m``: offset ``i`` on ``t/0``, timestamp ``i`` ms unless given."""
    values: dict[str, Any] = {
        "event_id": f"e{i}", "model": "m", "model_version": "", "timestamp_ms": i,
        "received_ms": 0, "request_id": "", "num": {}, "cat": {}, "nulls": [],
        "pred_num": None, "pred_label": "", "pred_proba": {}, "segments": {},
        "latency_ms": None, "source": Coordinates("t", 0, i),
    }  # fmt: skip
    values.update(fields)
    return PredictionRecord(**values)
