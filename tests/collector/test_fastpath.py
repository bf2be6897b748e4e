"""The fast columnar path gives exactly what the per-event path gives: the same batch,
the same rows to store, the same dead letters (reason, detail, position, payload) and the
same counts, on clean batches, on every poison case and on random mixes."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.poison_corpus import CORPUS

from driftd.batch import PredictionBatch
from driftd.collector.fastpath import parse_rfc3339_ms
from driftd.collector.messages import Message
from driftd.collector.pii import find, surely_clean
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validated, Validator
from driftd.errors import EventError
from driftd.events import Coordinates, EventLimits, parse_timestamp_ms
from driftd.metrics import Metrics

KNOWN = frozenset({"m", "credit-0", "credit-1", "4111111111111111"})
KEY = b"k" * 16


def scrubber() -> Scrubber:
    return Scrubber(
        {"user_id": "hash", "internal_note": "drop", "Email": "keep"},
        hmac_key=KEY,
        values={"ipv4": "drop"},
    )


def validator(fast: bool, limits: EventLimits | None = None, *, records: bool = True) -> Validator:
    extra = {} if limits is None else {"limits": limits}
    return Validator(
        scrubber(), KNOWN.__contains__, Metrics(), fast=fast, keep_records=records, **extra
    )


def event(i: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"{i + 1:016x}",
        "model": "credit-0" if i % 3 else "credit-1",
        "model_version": "2026-11-01",
        "timestamp": f"2026-11-28T17:{i % 60:02d}:13.{i % 1000:03d}Z",
        "request_id": f"r-{i}",
        "features": {
            "inc": 52_000.5 + i,
            "age": 30 + i % 40,
            "ctry": ["DE", "FR", "ES"][i % 3],
            "card": i % 2 == 0,
        },
        "prediction": 0.25 + (i % 10) / 100,
        "latency_ms": 8.0 + i % 7,
    }
    base.update(over)
    return base


def messages(values: list[bytes], stored: frozenset[int] = frozenset()) -> list[Message]:
    return [
        Message(
            "predictions",
            v,
            Coordinates("p", 0, 100 + i),
            received_ms=1_800_000_000_000 + i,
            stored=i in stored,
        )
        for i, v in enumerate(values)
    ]


def rows(batch: PredictionBatch) -> list[dict[str, Any]]:
    """Every row as plain values (nulls as a set, NaN as None), for comparison."""
    out = []
    for rec in batch.to_records():
        row = {
            k: getattr(rec, k)
            for k in (
                "event_id", "model", "model_version", "timestamp_ms", "received_ms",
                "request_id", "num", "cat", "pred_num", "pred_label", "pred_proba",
                "segments", "latency_ms", "source",
            )
        }  # fmt: skip
        row["nulls"] = set(rec.nulls)
        out.append(row)
    return out


def same_columns(a: PredictionBatch, b: PredictionBatch) -> None:
    assert rows(a) == rows(b)
    assert a.index.tolist() == b.index.tolist()
    for attr in ("num", "cat", "nulls", "pred_proba", "segments"):
        assert sorted(getattr(a, attr)) == sorted(getattr(b, attr)), attr
    for name, column in a.num.items():
        np.testing.assert_array_equal(column, b.num[name])
    for name, column in a.cat.items():
        assert column.tolist() == b.cat[name].tolist()


def counts(v: Validator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for metric in v.metrics.registry.collect():
        if metric.name in ("driftd_events_received", "driftd_dead_letters"):
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def letters(done: Validated) -> list[tuple[Any, ...]]:
    return [
        (d.kind, d.reason, d.detail, d.index, d.source, repr(d.payload))
        for d in done.result.dead_letters
    ]


def compare(msgs: list[Message], limits: EventLimits | None = None) -> tuple[Validator, Validated]:
    fast, exact = validator(True, limits), validator(False, limits)
    got, want = fast.run(msgs), exact.run(msgs)
    # without records (the pipeline's setting) the typed msgspec stage runs first
    lean = validator(True, limits, records=False)
    thin = lean.run(msgs)
    same_columns(thin.batch, want.batch)
    same_columns(thin.store_batch, want.store_batch)
    assert letters(thin) == letters(want)
    assert counts(lean) == counts(exact)
    same_columns(got.batch, want.batch)
    same_columns(got.store_batch, want.store_batch)
    assert letters(got) == letters(want)
    assert counts(fast) == counts(exact)
    assert len(got.batch) + len(got.result.outcomes) + len(got.result.dead_letters) == len(msgs)
    # the transitional records agree too
    assert [r.event_id for r in got.result.predictions] == [
        r.event_id for r in want.result.predictions
    ]
    assert [r.event_id for r in got.to_store_p] == [r.event_id for r in want.to_store_p]
    assert sorted(i for _, i, _ in got.origin.values()) == sorted(
        i for _, i, _ in want.origin.values()
    )
    return fast, got


def test_a_clean_batch_takes_the_fast_path_entirely() -> None:
    msgs = messages([orjson.dumps(event(i)) for i in range(500)])
    fast, got = compare(msgs)
    assert fast.fastpath.fallbacks == 0
    assert len(got.batch) == 500
    assert got.batch.cat["card"].tolist()[:2] == ["true", "false"]


def test_events_without_ids_or_timestamps_take_the_fast_path() -> None:
    plain = [
        {"model": "m", "features": {"x": i, "c": "a"}, "prediction": "yes" if i % 2 else True}
        for i in range(50)
    ]
    plain += [{**event(i), "timestamp": 1_795_888_093_123 + i, "event_id": ""} for i in range(50)]
    fast, got = compare(messages([orjson.dumps(e) for e in plain]))
    assert fast.fastpath.fallbacks == 0
    assert got.batch.event_id[0] == "p/0/100"


ODD: list[dict[str, Any]] = [
    # sensitive keys: dropped, hashed, kept by a rule, renamed (a key holding PII)
    event(1, password="x"),
    event(2, features={"user_id": 7, "x": 1.0}),
    event(3, features={"internal_note": "hi", "x": 1.0}),
    event(4, features={"Email": "plain", "x": 1.0}),
    event(5, features={"bob@example.com": 1.0}),
    event(6, features={"API-Key": "abc", "x": 2}),
    # PII values: masked, dropped (ipv4 drops), in ids, in the model name, in a label
    event(7, features={"note": "call +1 415 555 2671", "x": 1.0}),
    event(8, features={"host": "10.0.0.1", "x": 1.0}),
    event(9, request_id="bob@example.com"),
    event(10, event_id="4111111111111111"),
    event(11, model="4111111111111111"),
    event(12, prediction="mail bob@example.com"),
    event(13, model_version="10.1.2.3"),
    event(14, request_id="AKIAIOSFODNN7EXAMPLE"),
    event(15, event_id="V1StGXR8Z5jdHi6BmyTaQ3"),
    # odd timestamps
    event(16, timestamp="2026-11-28 17:48:13"),
    event(17, timestamp="2026-11-28T17:48:13.1Z"),
    event(18, timestamp="2026-11-28T17:48:13+0530"),
    event(19, timestamp="2026-11-28T17:48:13.123456-08:00"),
    event(20, timestamp="2026-02-29T00:00:00Z"),
    event(21, timestamp="2024-02-29T23:59:59.999+23:59"),
    event(22, timestamp=1_764_500_000),
    event(23, timestamp=0),
    event(24, timestamp=1_764_500_000_000.5),
    event(25, timestamp=True),
    event(26, timestamp="1969-12-31T23:59:59Z"),
    event(27, timestamp="2999-12-31T23:59:59.999Z"),
    event(28, timestamp="3000-01-01T00:00:00Z"),
    event(29, timestamp="1970-01-01T00:00:00+00:01"),
    event(30, timestamp=None),
    event(31, timestamp="2026-13-01T00:00:00Z"),
    event(32, timestamp="2026-11-28T17:48:13z"),
    # nulls, NaN-free missing values, probabilities, segments
    event(33, features={"x": None, "c": "a"}),
    event(34, prediction={"yes": 0.7, "no": 0.3}),
    event(35, segments={"region": "eu", "tier": 2, "vip": True}),
    event(36, latency_ms=None, model_version=None, request_id=None, event_id=None),
    # mixed types in one column, bools, big integers, limits
    event(37, features={"inc": "high", "age": True, "ctry": 3, "card": None}),
    event(38, features={"inc": 2**53 + 1, "age": -(2**60)}),
    event(39, features={"inc": 1e300, "age": -0.0}),
    event(40, prediction=True),
    event(41, prediction=2**63),
    event(42, latency_ms=-1),
    event(43, latency_ms=True),
    event(44, features={f"f{k}": k for k in range(12)}),
    event(45, features={"x" * 40: 1.0}),
    event(46, features={"c": "y" * 40}),
    event(47, request_id="z" * 40),
    event(48, features={"c": "café"}),
    event(49, features={"café": 1}),
    event(50, model="ghost"),
    event(51, model="bad name"),
    event(52, model=7),
    event(53, features=[1, 2]),
    event(54, features={}),
    event(55, prediction=None),
    event(56, prediction=[1]),
    event(57, latency_ms="8"),
    event(58, event_id=12),
    event(59, unknown_key={"deep": [1, {"a": "10.0.0.1"}]}),
    event(60, features={"x": [1]}),
    {"model": "m", "features": {"x": 1}},
    {"features": {"x": 1}, "prediction": 1},
    {"model": "m", "prediction": 1},
]


def test_every_odd_event_matches_the_exact_path() -> None:
    values = [orjson.dumps(e) for e in ODD]
    limits = EventLimits(max_features=10, max_string_length=32)
    compare(messages(values), limits)
    compare(messages(values))


def test_poison_corpus_and_raw_oddities_match() -> None:
    values = [bad for bad, _ in CORPUS]
    values += [
        b"",
        b"null",
        b"[1]",
        b'"text"',
        b"{",
        b'{"model":"m","features":{"x":NaN},"prediction":1}',
        b'{"model":"m","features":{"x":1},"prediction":Infinity}',
        b'{"model":"m",\n"features":{"x":1},"prediction":1}',
        b'{"model":"m","features":{"x":1},"prediction":1,"model":"credit-0"}',
        b'{"model":"m","features":{"x":1,"x":"a"},"prediction":1}',
        b'{"model":"m","features":{"x":"\\u00e9"},"prediction":1}',
        b'{"model":"m","features":{"x":"a\\nb"},"prediction":1}',
        b'{"model":"m","features":{"x":12345678901234567890},"prediction":1}',
    ]
    clean = [orjson.dumps(event(i)) for i in range(len(values))]
    values = [v for pair in zip(values, clean, strict=True) for v in pair]
    compare(messages(values, stored=frozenset(range(0, len(values), 5))))


def test_stored_messages_are_left_out_of_the_batch_to_store() -> None:
    msgs = messages([orjson.dumps(event(i)) for i in range(20)], stored=frozenset({0, 3, 19}))
    _, got = compare(msgs)
    assert got.store_batch.index.tolist() == [i for i in range(20) if i not in (0, 3, 19)]


def test_outcomes_and_http_objects_stay_on_the_exact_path() -> None:
    msgs = messages([orjson.dumps(event(i)) for i in range(6)])
    msgs[1] = Message("outcomes", b'{"model":"m","request_id":"r-1","outcome":1}', received_ms=1)
    msgs[2] = Message("predictions", event(2), size=300, received_ms=2)
    msgs[3] = Message("outcomes", b"{", received_ms=3)
    fast, got = compare(msgs)
    assert fast.fastpath.fallbacks == 0
    assert got.batch.index.tolist() == [0, 2, 4, 5]
    assert len(got.result.outcomes) == 1


def test_scrubbed_payload_is_what_a_dead_letter_would_carry() -> None:
    v = validator(True)
    msg = Message("predictions", orjson.dumps(event(1, password="x", features={"n": "a@b.co"})))
    assert v.scrubbed_payload(msg) == v.scrubber.scrub(orjson.loads(msg.value))  # type: ignore[arg-type]
    assert "password" not in (v.scrubbed_payload(msg) or {})
    assert v.scrubbed_payload(Message("predictions", b"{")) is None


def test_a_fast_path_bug_costs_speed_not_events(monkeypatch: pytest.MonkeyPatch) -> None:
    v = validator(True)

    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(v.fastpath, "run", broken)
    msgs = messages([orjson.dumps(event(i)) for i in range(5)])
    assert len(v.run(msgs).batch) == 5


# --- random mixes ---------------------------------------------------------------------

_text = st.sampled_from(
    ["DE", "web", "", "a@b.co", "10.0.0.1", "4111 1111 1111 1111", "+44 20 7946 0958",
     "café", "x" * 40, "eyJhbGciOi.eyJzdWIiOi.sig", "2026-11-01", "r-1", "0000000000002710"]
)  # fmt: skip
_scalar = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**64 - 1),
    st.booleans(),
    st.none(),
    _text,
)
_stamp = st.one_of(
    st.none(),
    st.integers(-5, 2**62),
    st.sampled_from([1_764_500_000, 0, 1_795_888_093_123, 32_503_680_000_000]),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds") + "Z"),
    _text,
)


@st.composite
def _events(draw: st.DrawFn) -> bytes:
    i = draw(st.integers(0, 10_000))
    e = event(i)
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["inc", "age", "ctry", "x", "user_id", "a@b.co",
                                               "password", "internal_note"]),
                              max_size=4, unique=True))  # fmt: skip
        e["features"] = {n: draw(_scalar) for n in names}
    for key in ("event_id", "model_version", "request_id", "prediction", "latency_ms"):
        if draw(st.integers(0, 5)) == 0:
            e[key] = draw(_scalar)
    if draw(st.integers(0, 3)) == 0:
        e["timestamp"] = draw(_stamp)
    if draw(st.integers(0, 8)) == 0:
        e["model"] = draw(st.sampled_from(["m", "ghost", "4111111111111111", "", "a b"]))
    if draw(st.integers(0, 8)) == 0:
        del e[draw(st.sampled_from(sorted(e)))]
    if draw(st.integers(0, 6)) == 0:  # dropped, kept-but-unknown or hashed top-level keys
        e[draw(st.sampled_from(["password", "internal_note", "Email", "user_id"]))] = draw(_scalar)
    if draw(st.integers(0, 10)) == 0:
        return draw(st.sampled_from([bad for bad, _ in CORPUS[:16]]))
    raw = orjson.dumps(e)
    if draw(st.integers(0, 8)) == 0:  # a duplicate key, the later value winning
        dup = draw(st.sampled_from([b'"inc":"dup",', b'"inc":1,', b'"ctry":true,']))
        raw = raw.replace(b'"features":{', b'"features":{' + dup, 1)
    return raw


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60)
@given(st.lists(_events(), max_size=40), st.sets(st.integers(0, 40)))
def test_random_mixes_match_the_exact_path(values: list[bytes], stored: set[int]) -> None:
    compare(messages(values, frozenset(stored)), EventLimits(max_string_length=32))


# --- the pieces -----------------------------------------------------------------------


def _exact_ms(text: str) -> int | None:
    try:
        return parse_timestamp_ms(text)
    except EventError:
        return None


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.datetimes(),
    st.sampled_from(["auto", "milliseconds", "microseconds", "seconds"]),
    st.sampled_from(["", "Z", "+05:30", "-08:00", "+23:59", "-00:00"]),
)
def test_timestamps_parse_as_the_exact_path_parses_them(
    when: Any, timespec: str, zone: str
) -> None:
    text = when.isoformat(timespec=timespec) + zone
    ms, ok = parse_rfc3339_ms([text])
    if ok[0]:
        assert int(ms[0]) == _exact_ms(text)
        assert find(text) == []  # such a timestamp is never redacted
    elif re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?(Z|[+-]\d\d:\d\d)?", text):
        assert _exact_ms(text) is None


def test_timestamps_with_non_ascii_characters_fail_alone() -> None:
    texts = [
        "2026-11-28T17:48:13.123Z", "2026-11-28T17:48:13.12\u0663Z",
        "2026-11-28T17:48:1\u00e9.123Z", "2026-11-28T17:48:13.124Z", "\u0662026-11-28T17:48:13.12Z",
    ]  # fmt: skip
    ms, ok = parse_rfc3339_ms(texts)
    assert ok.tolist() == [True, False, False, True, False]
    assert ms.tolist() == [1795888093123, 0, 0, 1795888093124, 0]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(["2026-11-28T17:48:13.123Z", "2026-02-29T00:00:00Z", "1970-01-01T00:00:00"])
        | st.text(alphabet="0123456789-T:.Z+\u0663\u00e9\ud800", min_size=19, max_size=32),
        max_size=12,
    )
)
def test_a_column_parses_as_each_value_alone(texts: list[str]) -> None:
    ms, ok = parse_rfc3339_ms(texts)
    for j, text in enumerate(texts):
        one_ms, one_ok = parse_rfc3339_ms([text])
        assert (int(ms[j]), bool(ok[j])) == (int(one_ms[0]), bool(one_ok[0])), text
        if ok[j]:
            assert int(ms[j]) == _exact_ms(text)


def test_timestamp_edge_cases() -> None:
    texts = [
        "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2000-02-29T12:00:00.5Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01",
        "2999-12-31T23:59:59.999999Z", "2026-11-28T24:00:00Z", "2026-11-28T17:48:13-23:59",
        "2026-11-28T17:48:13+24:00", "2026-11-28T17:48:13.123x", "2026-11-28T17:48:13.1234",
        "abcd-ef-ghTij:kl:mn",
    ]  # fmt: skip
    ms, ok = parse_rfc3339_ms(texts)
    for text, got, fine in zip(texts, ms.tolist(), ok.tolist(), strict=True):
        want = _exact_ms(text)
        if fine:
            assert got == want, text
        elif len(text) in (19, 20, 23, 24, 25, 26, 27, 29, 32) and "." not in text[19:20]:
            pass  # forms the exact path may still accept (left to it)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet="abcxyz0123456789_-", max_size=22), min_size=1, max_size=5))
def test_surely_clean_values_are_clean(values: list[str]) -> None:
    if surely_clean(values):
        for v in values:
            assert find(v) == [] and find(v, ids=True) == [], v


@given(st.lists(st.text(alphabet="ab-_0123456789", max_size=22), min_size=1, max_size=6))
def test_surely_clean_counts_seven_digits_per_line_as_the_regex_does(values: list[str]) -> None:
    seven_digits_on_a_line = re.compile(r"\d(?:[^\d\n]*\d){6}")
    text = "\n".join(values)
    if re.fullmatch(r"[a-z0-9_\n]*", text) is None:  # the dashed branch decides
        assert surely_clean(values) == (
            len(max(values, key=len)) <= 19 and seven_digits_on_a_line.search(text) is None
        )


@pytest.mark.parametrize(
    "value",
    ["4111111111111111", "5500000000000004", "378282246310005", "123-45-6789",
     "415-555-2671", "0201-555-2671", "a@b.co", "10.0.0.1", "::1", "AKIAIOSFODNN7EXAMPLE"],
)  # fmt: skip
def test_surely_clean_refuses_pii(value: str) -> None:
    assert not surely_clean([value])
    assert not surely_clean(["web", value, "r-1"])


def test_nan_stays_nan_and_counts_are_equal() -> None:
    values = [orjson.dumps(event(i)) for i in range(10)]
    values.append(b'{"model":"m","features":{"x":NaN,"y":1},"prediction":1}')
    fast, got = compare(messages(values))
    assert fast.fastpath.fallbacks == 1
    assert got.batch.nulls["x"].tolist() == [False] * 10 + [True]
    assert math.isnan(got.batch.num["inc"][10])


def test_without_records_only_the_batch_carries_the_fast_rows() -> None:
    values = [orjson.dumps(event(i)) for i in range(30)]
    values[7] = orjson.dumps(event(7, user_id="x"))  # hashed: the exact path takes this one
    values[9] = b"{"
    msgs = messages(values, stored=frozenset({3}))
    lean = Validator(scrubber(), KNOWN.__contains__, Metrics(), keep_records=False)
    exact = validator(False)
    got, want = lean.run(msgs), exact.run(msgs)
    same_columns(got.batch, want.batch)
    same_columns(got.store_batch, want.store_batch)
    assert letters(got) == letters(want)
    assert counts(lean) == counts(exact)
    assert [r.event_id for r in got.result.predictions] == [want.batch.event_id[7]]
    assert lean.fastpath.fallbacks == 2
    # a row storage refuses is named by its index; its payload comes from the message
    assert lean.scrubbed_payload(msgs[int(got.batch.index[7])]) == exact.scrubber.scrub(
        orjson.loads(values[7])
    )


def test_the_setting_reaches_the_pipeline_validator() -> None:
    from driftd.config import load_settings
    from driftd.services import build_services
    from driftd.storage import InMemoryControlStore, InMemoryEventStore

    for on in (True, False):
        settings = load_settings(None, collector={"fast_path": on})
        services = build_services(
            settings, store=InMemoryEventStore(), control=InMemoryControlStore()
        )
        try:
            assert services.pipeline.validator.fast is on
        finally:
            services.close()


TYPED_ODDITIES = [
    # duplicate keys: the last value wins in orjson and msgspec alike
    b'{"model":"m","model":"credit-0","features":{"inc":1,"inc":2.5,"age":3,"ctry":"DE",'
    b'"card":true},"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":"x","inc":2.5,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"\\u0069nc":1,"inc":7,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    # the same keys in another order, integers for floats, -0, exponents
    b'{"prediction":1,"features":{"card":false,"ctry":"FR","age":-0,"inc":1e3},"model":"credit-1"}',
    # integers past 2**53 and 2**64, and a float out of range
    b'{"model":"credit-0","features":{"inc":9007199254740993,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":184467440737095516160,"age":3,"ctry":"DE",'
    b'"card":true},"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1e400,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1' + b"0" * 400 + b',"age":3,"ctry":"DE",'
    b'"card":true},"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":-9223372036854775809,"age":-0,"ctry":"DE",'
    b'"card":true},"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":9007199254740992,"age":-9007199254740993,'
    b'"ctry":"DE","card":true},"prediction":0.5}',
    # types, nulls and keys the shape does not have
    b'{"model":"credit-0","features":{"inc":true,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":null,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE"},"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true,"x":1},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"extra":1}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},"prediction":"yes"}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"timestamp":1.0}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"timestamp":18446744073709551616}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"latency_ms":null,"event_id":null}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"latency_ms":false}',
    # strings msgspec and orjson refuse alike, or that must fall back after decoding
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"D\x01","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"\\ud800","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"\xed\xa0\x80","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"\\u00e9","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"a@b.co","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},"prediction":0.5} x',
    b'\xef\xbb\xbf{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5}',
    b'{"model":"credit-0","features":{"inc":1,"age":3,"ctry":"DE","card":true},'
    b'"prediction":0.5,"password":"x"}',
]


def test_the_typed_stage_matches_the_exact_path_on_what_msgspec_reads_differently() -> None:
    clean = [orjson.dumps(event(i)) for i in range(len(TYPED_ODDITIES))]
    values = [v for pair in zip(clean, TYPED_ODDITIES, strict=True) for v in pair]
    compare(messages(values))
    lean = validator(True, records=False)
    lean.run(messages(values))
    assert lean.fastpath.typed >= len(clean)  # the clean events took the typed stage


def test_the_typed_stage_learns_the_shape_past_a_bad_first_event() -> None:
    values = [b"{", b"[]"] + [orjson.dumps(event(i)) for i in range(20)]
    compare(messages(values))
    lean = validator(True, records=False)
    lean.run(messages(values))
    assert lean.fastpath.typed == 20


def test_keys_the_scrubber_only_drops_stay_on_the_fast_path() -> None:
    feats = event(0)["features"]
    odd = [
        event(1, password="hunter2"),
        event(2, internal_note={"deep": [1, {"x": "a@b.co"}]}),
        event(3, features={**feats, "internal_note": "call bob@example.com"}),
        event(4, features={**feats, "api_token": None, "password": [1]}),
        event(5, features={"password": "x"}),  # nothing left but an empty object
        event(6, features={**feats, "user_id": 7}),  # hashed: the exact path's
        event(7, features={**feats, "bob@example.com": 1}),  # renamed: the exact path's
        event(8, Email="a@b.co"),  # kept, so an unknown key: the exact path's
    ]
    values = [orjson.dumps(event(i)) for i in range(20)] + [orjson.dumps(e) for e in odd]
    compare(messages(values))
    lean = validator(True, records=False)
    got = lean.run(messages(values))
    assert lean.fastpath.fallbacks == 3
    assert len(got.batch) == len(values)  # an unknown top-level key is ignored
    assert "internal_note" not in got.batch.cat and "password" not in got.batch.cat


def test_feature_strings_the_redactor_masks_are_stored_masked_on_the_fast_path() -> None:
    feats = event(0)["features"]
    long_mail = "x" * 120 + " bob@example.com " + "y" * 120  # 257: fits only once masked
    odd = [
        event(1, features={**feats, "ctry": "mail bob@example.com"}),
        event(2, features={**feats, "ctry": "call +1 415 555 2671"}),
        event(3, features={**feats, "ctry": long_mail}),
        event(4, features={**feats, "ctry": "10.0.0.1"}),  # dropped value: the exact path's
        event(5, features={**feats, "ctry": "café a@b.co"}),  # not ASCII: the exact path's
        event(6, features={**feats, "ctry": 7}),
        event(7, features={**feats, "ctry": "a@b.co"}),
    ]
    values = [orjson.dumps(event(i)) for i in range(20)] + [orjson.dumps(e) for e in odd]
    limits = EventLimits(max_string_length=256)
    compare(messages(values), limits)
    lean = validator(True, limits, records=False)
    got = lean.run(messages(values))
    assert lean.fastpath.fallbacks == 2
    assert got.batch.cat["ctry"][20] == "mail [EMAIL]"


@pytest.mark.parametrize("fast", [True, False])
def test_a_store_that_cannot_say_which_models_are_known_fails_the_batch(fast: bool) -> None:
    """Not a dead letter per event (the batch would be committed and its events lost):
    the error reaches the collector, which retries the batch."""
    from driftd.errors import StorageUnavailableError

    def down(model: str) -> bool:
        raise StorageUnavailableError("baselines: connection refused")

    v = Validator(scrubber(), down, Metrics(), fast=fast, keep_records=False)
    with pytest.raises(StorageUnavailableError):
        v.run(messages([orjson.dumps(event(i)) for i in range(3)]))


# --- vocabularies: strings learnt in earlier batches --------------------------------


def compare_batches(batches: list[list[bytes]], limits: EventLimits | None = None) -> Validator:
    """Batches one after the other through one lean fast validator (which learns the
    vocabularies of its shapes as it goes) and one exact validator: the same results."""
    lean, exact = validator(True, limits, records=False), validator(False, limits)
    offset = 0
    for values in batches:
        msgs = messages(values)
        for j, msg in enumerate(msgs):
            msg.source = Coordinates("p", 0, offset + j)
        offset += len(msgs)
        got, want = lean.run(msgs), exact.run(msgs)
        same_columns(got.batch, want.batch)
        same_columns(got.store_batch, want.store_batch)
        assert letters(got) == letters(want)
    assert counts(lean) == counts(exact)
    return lean


def test_strings_outside_the_learnt_vocabulary_are_decoded_plainly() -> None:
    first = [orjson.dumps(event(i)) for i in range(30)]
    odd = [
        orjson.dumps(event(1, features={**event(1)["features"], "ctry": "IT"})),
        orjson.dumps(event(2, model_version="2026-12-01")),
        orjson.dumps(event(3, model_version=None)),
        orjson.dumps(event(4, features={**event(4)["features"], "ctry": "de"})),
        orjson.dumps(event(5, features={**event(5)["features"], "ctry": "a@b.co"})),
        orjson.dumps(event(6, features={**event(6)["features"], "ctry": "D\x00"})),
        orjson.dumps(event(7)).replace(b'"FR"', b'"\\u0046R"'),  # the same string, escaped
        orjson.dumps(event(8)).replace(b'"ES"', b'"XX","ctry":"ES"'),  # duplicate, last wins
        orjson.dumps(event(9)).replace(b'"DE"', b'"DE","ctry":"XX"'),
    ]
    second = [orjson.dumps(event(i)) for i in range(30, 40)] + odd
    lean = compare_batches([first, second, second])
    (shape,) = lean.fastpath._shapes.values()
    assert shape.literal is not None
    # "a@b.co" (PII, stored masked) is never remembered: decoded plainly each time
    assert shape.vocabulary["f2"] == {"DE", "FR", "ES", "IT", "de", "XX", "D\x00"}
    assert shape.vocabulary["model_version"] == {"2026-11-01", "2026-12-01"}
    assert shape.vocabulary["model"] == {"credit-0", "credit-1"}
    assert lean.fastpath.typed == 30 + 2 * len(second)  # a@b.co stored masked
    got = lean.run(messages(second))  # decoded by the literal Struct: one object per value
    ctry = got.batch.cat["ctry"].tolist()
    assert ctry[0] is ctry[3] and ctry[0] == "DE"


def test_a_column_with_too_many_strings_is_decoded_plainly() -> None:
    many = [
        orjson.dumps(event(i, features={**event(i)["features"], "ctry": f"c{i}"}))
        for i in range(300)
    ]
    lean = compare_batches([many[:100], many[100:], many[:50]])
    (shape,) = lean.fastpath._shapes.values()
    assert shape.vocabulary["f2"] is None  # past the limit: plain strings from then on
    assert shape.vocabulary["model"] == {"credit-0", "credit-1"}
    assert lean.fastpath.typed == 350


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(st.lists(st.lists(_events(), max_size=25), min_size=2, max_size=4))
def test_random_mixes_batch_after_batch_match_the_exact_path(batches: list[list[bytes]]) -> None:
    clean = [orjson.dumps(event(i)) for i in range(10)]
    compare_batches([clean, *batches], EventLimits(max_string_length=32))


def test_integers_too_large_for_a_float_are_refused_in_the_numeric_column() -> None:
    from driftd.collector.fastpath import _exact_numbers, _floats

    numbers = _floats([1, 2.5, 10**400, -(10**400), 2**53, -0])
    assert numbers.tolist() == [1.0, 2.5, math.inf, math.inf, 2.0**53, 0.0]
    assert _exact_numbers(numbers).tolist() == [True, True, False, False, True, True]


def test_each_distinct_pii_value_of_a_column_is_redacted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The redactor remembers no PII, so finding it twice per batch doubles its cost."""
    feats = event(0)["features"]
    phones = [f"call +44 20 7946 {i:04d}" for i in range(5)]
    odd = [event(i, features={**feats, "ctry": phones[i % 5]}) for i in range(10)]
    values = [orjson.dumps(event(i)) for i in range(20)] + [orjson.dumps(e) for e in odd]
    compare(messages(values))
    lean = validator(True, records=False)
    seen: list[str] = []
    redact = lean.scrubber.redactor.redact

    def counting(text: str, *, ids: bool = False) -> Any:
        seen.append(text)
        return redact(text, ids=ids)

    monkeypatch.setattr(lean.scrubber.redactor, "redact", counting)
    got = lean.run(messages(values))
    assert lean.fastpath.fallbacks == 0
    assert got.batch.cat["ctry"][20] == "call [PHONE]"
    assert sorted(t for t in seen if t in phones) == sorted(phones)


def test_odd_values_anywhere_in_a_typed_batch_are_judged_one_by_one_and_the_rest_typed() -> None:
    clean = [orjson.dumps(event(i)) for i in range(30)]
    odd = [
        orjson.dumps(event(100, features=[1, 2])),
        b"{",
        orjson.dumps(event(101, extra_key=1)),
    ]
    values = [clean[0], odd[0], *clean[1:10], odd[1], odd[1], *clean[10:29], odd[2], clean[29]]
    values += [odd[0]]  # the last value too
    compare(messages(values))
    lean = validator(True, records=False)
    got = lean.run(messages(values))
    assert lean.fastpath.typed == 30
    assert got.batch.index.tolist() == [
        i for i, v in enumerate(values) if v in clean or v == odd[2]
    ]


def test_the_learnt_vocabularies_never_hold_personal_data() -> None:
    """The literal decoder keeps known strings for the life of the process: a value
    the redactor masks (an email, a phone number, a card) must never be one of them,
    in a feature or in the model's own fields, however often it comes."""
    pii = ["a@b.co", "+44 20 7946 0958", "4111 1111 1111 1111", "10.0.0.1"]
    batches = [
        [
            orjson.dumps(event(i, features={**event(i)["features"], "ctry": pii[i % 4]}))
            for i in range(b * 40, b * 40 + 40)
        ]
        + [orjson.dumps(event(i, model_version="v-a@b.co")) for i in range(5)]
        for b in range(3)
    ]
    lean = compare_batches(batches)
    for shape in lean.fastpath._shapes.values():
        for words in shape.vocabulary.values():
            assert words is None or not set(words) & {*pii, "v-a@b.co"}, words
