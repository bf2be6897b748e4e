"""The event contract: the hand validator, and its agreement with the pydantic models."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from driftd.errors import DecodeError, EventError
from driftd.events import (
    MIN_EPOCH_MS,
    Coordinates,
    EventLimits,
    PredictionEvent,
    decode,
    parse_outcome,
    parse_prediction,
    parse_timestamp_ms,
)

NOW = 1_764_000_000_000


def pred(**over: Any) -> dict[str, Any]:
    event = {"model": "credit-risk", "features": {"income": 52000.0}, "prediction": 0.9}
    event.update(over)
    return event


def test_design_example_parses() -> None:
    raw = (
        b'{"event_id": "7f1c", "model": "credit-risk", "model_version": "2026-11-01",'
        b' "timestamp": "2026-11-28T17:48:13.123Z", "request_id": "r-42",'
        b' "features": {"income": 52000.0, "country": "DE", "age": 41, "has_card": true},'
        b' "prediction": 0.93, "segments": {"region": "eu"}, "latency_ms": 12.3}'
    )
    rec = parse_prediction(decode(raw), received_ms=NOW)
    assert rec.event_id == "7f1c"
    assert rec.model_version == "2026-11-01"
    assert rec.timestamp_ms == 1_795_888_093_123
    assert rec.num == {"income": 52000.0, "age": 41.0}
    assert rec.cat == {"country": "DE", "has_card": "true"}
    assert rec.pred_num == 0.93 and rec.pred_label == ""
    assert rec.segments == {"region": "eu"}
    assert rec.latency_ms == 12.3


def test_defaults_timestamp_and_event_id_from_coordinates() -> None:
    src = Coordinates("driftd.predictions", 2, 17)
    rec = parse_prediction(pred(), received_ms=NOW, source=src)
    assert rec.timestamp_ms == NOW
    assert rec.event_id == "driftd.predictions/2/17"
    assert parse_prediction(pred(), received_ms=NOW).event_id == ""


def test_probability_prediction_takes_the_top_class() -> None:
    rec = parse_prediction(pred(prediction={"no": 0.2, "yes": 0.8}), received_ms=NOW)
    assert (rec.pred_label, rec.pred_num, rec.pred_proba) == ("yes", 0.8, {"no": 0.2, "yes": 0.8})


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"features": {}, "prediction": 1}, "missing_field"),
        (pred(model="bad name!"), "invalid_model"),
        (pred(features=[1, 2]), "invalid_type"),
        (pred(features={"x": [1]}), "invalid_feature_type"),
        (pred(features={"x": math.inf}), "non_finite"),
        (pred(prediction=math.nan), "non_finite"),
        (pred(prediction=None), "missing_field"),
        (pred(timestamp="yesterday"), "invalid_timestamp"),
        (pred(latency_ms=-1), "invalid_latency"),
        (pred(segments={"a": {"b": 1}}), "invalid_type"),
        (pred(prediction={}), "invalid_prediction"),
    ],
)
def test_contract_breaches_name_their_reason(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventError) as info:
        parse_prediction(event, received_ms=NOW)
    assert info.value.reason == reason


def test_nan_feature_is_missing_not_an_error() -> None:
    rec = parse_prediction(
        decode(b'{"model":"m","features":{"x":NaN,"y":null},"prediction":1}'), received_ms=NOW
    )
    assert rec.nulls == ["x", "y"] and rec.num == {}


def test_limits() -> None:
    limits = EventLimits(max_payload_bytes=300, max_features=2, max_string_length=16)
    with pytest.raises(DecodeError, match="too_large"):
        decode(b" " * 301, limits)
    with pytest.raises(EventError, match="too_many_features"):
        parse_prediction(pred(features={"a": 1, "b": 2, "c": 3}), received_ms=NOW, limits=limits)
    with pytest.raises(EventError, match="too_long"):
        parse_prediction(pred(features={"a": "x" * 17}), received_ms=NOW, limits=limits)
    with pytest.raises(ValueError, match="max_features"):
        EventLimits(max_features=0)


def test_decode_errors() -> None:
    with pytest.raises(DecodeError, match="invalid_json"):
        decode(b"{not json")
    with pytest.raises(DecodeError, match="not_an_object"):
        decode(b'"text"')


def test_epoch_seconds_are_refused_never_read_as_1970() -> None:
    seconds = NOW // 1000
    with pytest.raises(EventError, match=f"looks like epoch seconds.*send {seconds * 1000}"):
        parse_timestamp_ms(seconds)
    with pytest.raises(EventError, match=r"invalid_timestamp.*epoch seconds"):
        parse_outcome({"model": "m", "request_id": "r", "outcome": 1, "timestamp": seconds},
                      received_ms=NOW)  # fmt: skip
    # the boundary: 1e11 ms is 1973-03-03, the smallest number taken as milliseconds; 0 is 1970
    assert parse_timestamp_ms(MIN_EPOCH_MS) == 100_000_000_000
    assert parse_timestamp_ms(0) == 0
    with pytest.raises(EventError, match="epoch seconds"):
        parse_timestamp_ms(MIN_EPOCH_MS - 1)
    assert parse_timestamp_ms("2025-11-24T16:00:00Z") == NOW  # RFC 3339 is never ambiguous


def test_outcomes() -> None:
    out = parse_outcome(
        {"model": "m", "request_id": "r", "outcome": 1, "timestamp": NOW - 5}, received_ms=NOW
    )
    assert (out.outcome_num, out.outcome_label, out.timestamp_ms) == (1.0, "", NOW - 5)
    with pytest.raises(EventError, match="missing_field"):
        parse_outcome({"model": "m", "outcome": 1}, received_ms=NOW)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    features=st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=4),
    prediction=json_values,
)
@example(features={}, prediction={"": "0"})  # a probability sent as text
def test_hand_validator_agrees_with_the_pydantic_model(features: Any, prediction: Any) -> None:
    """Whatever the fast path accepts, the documented schema accepts, and vice versa."""
    event = {"model": "m", "features": features, "prediction": prediction}
    event = orjson.loads(orjson.dumps(event))
    try:
        parse_prediction(event, received_ms=NOW)
        fast_ok = True
    except EventError:
        fast_ok = False
    try:
        # the schema's own strictness: a run-time strict=False overrides the Strict types
        # inside a union's dict (pydantic 2.14 read a probability "0" as 0.0)
        PredictionEvent.model_validate(event)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert fast_ok == model_ok, event


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "m", "features": {"x": 1e999999}, "prediction": 1}',
        b'{"model": "m", "features": {"x": 1' + b"0" * 400 + b'}, "prediction": 1}',
        b'{"model": "m", "features": {}, "prediction": 1' + b"0" * 400 + b"}",
        b'{"model": "m", "features": {}, "prediction": 1, "timestamp": 1' + b"0" * 400 + b"}",
        b'{"model": "m", "features": {}, "prediction": 1, "latency_ms": -Infinity}',
    ],
)
def test_out_of_range_numbers_are_rejected_not_crashing(raw: bytes) -> None:
    with pytest.raises(EventError) as info:
        parse_prediction(decode(raw), received_ms=NOW)
    assert info.value.reason in {"non_finite", "invalid_timestamp"}
