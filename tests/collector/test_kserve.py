"""Decoding KServe's CloudEvents and pairing their halves (pure; no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.collector.kserve_docs import (
    IRIS,
    V1_REQUEST,
    V1_RESPONSE,
    V2_REQUEST,
    V2_REQUEST_BODY,
    V2_RESPONSE,
    V2_RESPONSE_BODY,
    binary,
    kafka_record,
    structured,
)

from driftd.collector.kserve import (
    REQUEST,
    RESPONSE,
    CloudEvent,
    KServeModel,
    Pairer,
    decode_inputs,
    decode_outputs,
    from_http,
    from_kafka,
)
from driftd.errors import DecodeError, EventError
from driftd.events import parse_prediction


def http(mode: Any, event: dict[str, Any]) -> CloudEvent:
    headers, body = mode(event)
    return from_http(headers, orjson.dumps(body))


@pytest.mark.parametrize("mode", [binary, structured])
def test_v1_doc_example_pairs_into_two_predictions(mode: Any) -> None:
    pairer = Pairer({"sklearn-iris": KServeModel(feature_names=IRIS)})
    assert pairer.add(http(mode, V1_REQUEST)) == []
    events = pairer.add(http(mode, V1_RESPONSE))
    rid = V1_REQUEST["id"]
    assert [e["request_id"] for e in events] == [f"{rid}:0", f"{rid}:1"]
    assert events[0]["features"] == dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True))
    assert [e["prediction"] for e in events] == [1, 1]
    records = [parse_prediction(e, received_ms=0) for e in events]
    assert {r.model for r in records} == {"sklearn-iris"}
    # ce time .0789529 → .078; the response at .080736102 → 2 ms later
    assert records[0].timestamp_ms == 1_618_014_206_078 and records[0].latency_ms == 2.0
    assert records[1].num["petal_width"] == 1.6 and records[1].pred_num == 1.0


@pytest.mark.parametrize("mode", [binary, structured])
def test_v2_doc_example_pairs_response_first(mode: Any) -> None:
    pairer = Pairer({"sklearn-irisv2": KServeModel(model="iris", feature_names=IRIS)})
    assert pairer.add(http(mode, V2_RESPONSE)) == []  # the response may come first
    events = pairer.add(http(mode, V2_REQUEST))
    assert [e["prediction"] for e in events] == [1, 2]
    assert events[1]["features"] == dict(zip(IRIS, [6.0, 3.4, 4.5, 1.6], strict=True))
    assert {e["model"] for e in events} == {"iris"}
    assert {e["model_version"] for e in events} == {"v1.0.0"}  # from the V2 answer
    assert all(parse_prediction(e, received_ms=0).model == "iris" for e in events)


def test_unnamed_wide_tensors_get_positional_names() -> None:
    assert decode_inputs(V2_REQUEST_BODY)[0] == {
        "input-0_0": 6.8, "input-0_1": 2.8, "input-0_2": 4.8, "input-0_3": 1.4,
    }  # fmt: skip
    flat = {"inputs": [{"name": "x", "shape": [2, 2], "data": [1, 2, 3, 4]}]}  # row-major
    assert decode_inputs(flat, KServeModel(feature_names=("a", "b"))) == [
        {"a": 1, "b": 2}, {"a": 3, "b": 4},
    ]  # fmt: skip
    assert decode_outputs(V2_RESPONSE_BODY) == [1, 2]
    probs = {"outputs": [{"name": "p", "shape": [1, 3], "data": [0.1, 0.2, 0.7]},
                         {"name": "label", "shape": [1], "data": ["c"]}]}  # fmt: skip
    assert decode_outputs(probs) == [{"0": 0.1, "1": 0.2, "2": 0.7}]
    assert decode_outputs(probs, KServeModel(output="label")) == ["c"]


def test_header_names_match_in_any_case() -> None:
    headers, body = binary(V1_REQUEST)
    shouted = {k.title(): v for k, v in headers.items()}  # Ce-Id, Ce-Type, ...
    assert from_http(shouted, orjson.dumps(body)) == http(binary, V1_REQUEST)


def test_kafka_records_with_ce_headers_decode_like_http() -> None:
    event = from_kafka(kafka_record(V1_REQUEST), orjson.dumps(V1_REQUEST["data"]))
    assert event == http(binary, V1_REQUEST)
    structured_record = from_kafka(
        [("content-type", b"application/cloudevents+json")], orjson.dumps(V1_RESPONSE)
    )
    assert structured_record.type == RESPONSE and structured_record.data == V1_RESPONSE["data"]


def test_duplicates_are_dropped_and_counted() -> None:
    pairer = Pairer()
    request, response = http(binary, V1_REQUEST), http(binary, V1_RESPONSE)
    assert pairer.add(request) == [] and pairer.add(request) == []
    assert len(pairer.add(response)) == 2
    assert pairer.add(response) == [] and pairer.add(request) == []  # redelivered after pairing
    assert pairer.duplicates == 3 and pairer.pending == 0 and pairer.paired == 1
    other_source = CloudEvent(REQUEST, "http://elsewhere/", request.id, request.data)
    assert pairer.add(other_source) == [] and pairer.pending == 1  # not the same event


def test_lone_halves_expire_after_the_timeout_and_memory_is_bounded() -> None:
    now = [0.0]
    pairer = Pairer(timeout_s=10, max_pending=3, clock=lambda: now[0])
    for i in range(3):
        pairer.add(CloudEvent(REQUEST, "s", f"r{i}", V1_REQUEST["data"]))
        now[0] += 4
    now[0] = 9.9  # arrivals at 0, 4 and 8 s
    assert pairer.expire() == []
    now[0] = 10.0
    assert [h.event.id for h in pairer.expire()] == ["r0"]
    for i in range(3, 6):
        pairer.add(CloudEvent(RESPONSE, "s", f"r{i}", V1_RESPONSE["data"]))
    lone = pairer.expire()  # over max_pending: the oldest go first
    assert [h.event.id for h in lone] == ["r1", "r2"] and pairer.pending == 3
    assert [h.event.id for h in pairer.expire(everything=True)] == ["r3", "r4", "r5"]


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"ce-id": "1", "ce-source": "s"}, b"{}", "invalid_cloudevent"),
        ({"ce-id": "1", "ce-source": "s", "ce-type": "com.example.other"}, b"{}",
         "invalid_cloudevent"),
        ({"ce-id": "1", "ce-source": "s", "ce-type": REQUEST}, b"{not json", "invalid_json"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "invalid_cloudevent"),
    ],
)  # fmt: skip
def test_malformed_events_raise_with_a_reason(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        from_http(headers, body)
    assert caught.value.reason == reason


def test_a_pair_that_does_not_decode_raises() -> None:
    pairer = Pairer()
    pairer.add(http(binary, V1_REQUEST))
    bad = {**V1_RESPONSE, "data": {"predictions": [1]}}  # two instances, one prediction
    with pytest.raises(DecodeError, match="2 instances but 1 predictions"):
        pairer.add(http(binary, bad))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
tensor = st.fixed_dictionaries(
    {"name": st.text(max_size=5), "shape": st.lists(json_values, max_size=3),
     "data": st.lists(json_values, max_size=6)}
)  # fmt: skip
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": st.lists(json_values, max_size=4)}),
    st.fixed_dictionaries({"predictions": st.lists(json_values, max_size=4)}),
    st.fixed_dictionaries({"inputs": st.lists(tensor, max_size=3)}),
    st.fixed_dictionaries({"outputs": st.lists(tensor, max_size=3)}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=bodies, response=bodies, time=st.none() | st.text(max_size=30))
def test_any_payload_pairs_into_events_or_a_reasoned_error(
    request: Any, response: Any, time: str | None
) -> None:
    """Whatever KServe (or anyone) sends, pairing never fails with an unexpected error."""
    pairer = Pairer()
    attrs = {"source": "s", "id": "1", "inferenceservicename": "m", "time": time}
    pairer.add(CloudEvent(type=REQUEST, data=request, **attrs))
    try:
        events = pairer.add(CloudEvent(type=RESPONSE, data=response, **attrs))
    except EventError as exc:
        assert exc.reason
        return
    assert all(e["model"] == "m" and "features" in e and "prediction" in e for e in events)
