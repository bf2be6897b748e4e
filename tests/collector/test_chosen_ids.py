"""chosen_ids (only ids of the derived length spelt out) against the per-event definition."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from driftd.batch import PredictionBatch
from driftd.collector.pipeline import _digits, chosen_ids
from driftd.events import Coordinates, parse_prediction

ints = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(ints, max_size=40))
def test_digits_are_the_length_of_the_decimal(values: list[int]) -> None:
    column = np.array(values, dtype=np.int64)
    assert _digits(column).tolist() == [len(str(v)) for v in values]


coordinates = st.one_of(
    st.none(),
    st.builds(
        Coordinates,
        st.sampled_from(["t", "bench.predictions", "tópico"]),
        st.integers(0, 12),
        st.sampled_from([0, 7, 9, 10, 99, 100, 12345, 10**12]),
    ),
)


@given(st.lists(st.tuples(coordinates, st.sampled_from(["", "x", "derived", "t/0/7", "t/1/10"]))))
def test_chosen_ids_match_the_per_event_rule(events: list[tuple[Coordinates | None, str]]) -> None:
    records = []
    for source, kind in events:
        event_id = source.event_id() if kind == "derived" and source is not None else kind
        payload = {"model": "m", "event_id": event_id, "features": {}, "prediction": 1.0}
        records.append(parse_prediction(payload, received_ms=1, source=source))
    batch = PredictionBatch.from_records(records)
    want = [
        bool(r.event_id) and (r.source is None or r.event_id != r.source.event_id())
        for r in records
    ]
    assert chosen_ids(batch).tolist() == want
