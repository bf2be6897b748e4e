"""The predictions' Arrow table holds each record's cells, whichever way it is built."""

from __future__ import annotations

import pytest

from driftd.batch import PredictionBatch
from driftd.events import Coordinates, PredictionRecord
from driftd.storage.columns import PREDICTION_INSERT_COLUMNS, prediction_arrow


def _record(i: int, model: str, dense: bool) -> PredictionRecord:
    num = {"a": float(i), "ç": -1.5} if dense or i % 3 else {"ç": 2.0}
    cat = {"x y": "café", "b": str(i)} if dense or i % 2 else {}
    return PredictionRecord(
        event_id=f"e{i}", model=model, model_version=f"v{i % 2}", timestamp_ms=10 + i,
        received_ms=20, request_id="", num=num, cat=cat, nulls=[], pred_num=0.5,
        pred_label="", pred_proba={}, segments={"region": "eu"}, latency_ms=None,
        source=Coordinates("t", 0, i) if i % 4 else None,
    )  # fmt: skip


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("models", [("m",), ("m", "other")])
def test_the_arrow_table_holds_each_records_cells(dense: bool, models: tuple[str, ...]) -> None:
    records = [_record(i, models[i % len(models)], dense) for i in range(40)]
    table, layouts = prediction_arrow(PredictionBatch.from_records(records))
    assert table.column_names == list(PREDICTION_INSERT_COLUMNS.names)
    rows = table.to_pylist()
    for row, rec in zip(rows, records, strict=True):
        assert (row["event_id"], row["model"], row["model_version"]) == (
            rec.event_id, rec.model, rec.model_version
        )  # fmt: skip
        layout = layouts[row["layout"]]
        assert dict(zip(layout.num_keys, row["num_values"], strict=True)) == rec.num
        assert dict(zip(layout.cat_keys, row["cat_values"], strict=True)) == rec.cat
        assert dict(row["segments"]) == rec.segments and row["pred_proba"] == []
        src = rec.source or Coordinates("", -1, -1)
        assert (row["src_topic"], row["src_partition"], row["src_offset"]) == (
            src.topic, src.partition, src.offset
        )  # fmt: skip


def test_one_layout_per_pattern_of_sent_features() -> None:
    """Every feature sent: one layout for the batch; else one per pattern of sent
    features, its names in the batch's column order, its id a digest of them (the same
    batch again, the same ids)."""
    dense = prediction_arrow(
        PredictionBatch.from_records([_record(i, "m", True) for i in range(9)])
    )
    assert len(dense.layouts) == 1
    assert set(dense.table.column("layout").to_pylist()) == set(dense.layouts)
    records = [_record(i, "m", False) for i in range(12)]
    sparse = prediction_arrow(PredictionBatch.from_records(records))
    patterns = {(frozenset(r.num), frozenset(r.cat)) for r in records}
    layouts = sparse.layouts.values()
    assert {(frozenset(lay.num_keys), frozenset(lay.cat_keys)) for lay in layouts} == patterns
    assert len(sparse.layouts) == len(patterns) and 0 not in sparse.layouts
    again = prediction_arrow(PredictionBatch.from_records(records))
    assert again.table.column("layout").equals(sparse.table.column("layout"))
