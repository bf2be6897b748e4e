"""Poison input and bounded work over HTTP, against a real in-process daemon (chDB, SQLite):
each bad event ends as a rejection with a reason or a 4xx, the valid events around it are
stored exactly once, and no request can stall the ones after it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.baselines import create_baseline
from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.storage.base import EventStoreProtocol

NDJSON = {"content-type": "application/x-ndjson"}
URL = "/v1/events/predictions"


class Api:
    def __init__(self, client: httpx.Client, store: EventStoreProtocol) -> None:
        self.client = client
        self.store = store
        self.sent = 0

    def valid(self, n: int = 1) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            out.append({"model": "m", "event_id": f"v{self.sent}", "features": {"x": 0.5},
                        "prediction": 0.5})  # fmt: skip
            self.sent += 1
        return out

    def stored_once(self) -> bool:
        n = self.store.count("predictions")
        return n == self.store.count_distinct_event_ids("predictions") == self.sent


@pytest.fixture
def api(chdb_url: str, database: str, tmp_path: Path) -> Iterator[Api]:
    config = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": 0, "max_body_bytes": 2 * 1024 * 1024},
        collector={"batch_max_wait_ms": 5},
        limits={"max_events_per_request": 10_000, "max_dead_letters_per_request": 20},
    )  # fmt: skip
    daemon = Daemon(config, "all")
    daemon.start()
    assert daemon.services is not None
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.random(300), "p": rng.random(300)})
    create_baseline(daemon.services.store, daemon.services.control, frame, "m", "v1",
                    prediction="p")  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=60) as client:
            yield Api(client, daemon.services.store)
    finally:
        daemon.stop()


def reasons(answer: httpx.Response) -> list[str]:
    return [r["reason"] for r in answer.json()["rejected"]]


def test_a_lone_surrogate_is_rejected_and_later_requests_still_go_through(api: Api) -> None:
    """Issue case 1: this request and every later one used to hang."""
    body = b'{"model":"m","features":{"country":"\\ud800"},"prediction":0.5}'
    answer = api.client.post(URL, content=body)
    assert answer.status_code == 200 and reasons(answer) == ["invalid_string"]
    mixed = b"[" + orjson.dumps(api.valid()[0]) + b"," + body + b"]"
    answer = api.client.post(URL, content=mixed)
    assert answer.json()["accepted"] == 1 and reasons(answer) == ["invalid_string"]
    assert api.client.post(URL, json=api.valid(3)).json()["accepted"] == 3
    # a detail quoting a lone surrogate is answered escaped, never as a 500
    label = b'{"model":"m","features":{"x":1},"prediction":{"\\ud800":"high"}}'
    answer = api.client.post(URL, content=label)
    assert answer.status_code == 200 and reasons(answer) == ["invalid_prediction"]
    assert "\\ud800" in answer.json()["rejected"][0]["detail"]
    assert api.stored_once()
    assert api.client.get("/readyz").status_code == 200


def test_a_400_digit_integer_is_rejected_and_its_dead_letter_written(api: Api) -> None:
    """Issue case 2: writing this dead letter used to raise and fail the whole group."""
    huge = b"9" * 400
    bodies = [
        b'{"model":"ghost","features":{"x":1},"prediction":1,"n":' + huge + b"}",
        b'{"model":"m","features":{"x":' + huge + b'},"prediction":1}',
        b'{"model":"m","features":{"x":1},"prediction":' + b"9" * 5000 + b"}",
    ]
    got = [reasons(api.client.post(URL, content=body)) for body in bodies]
    assert got == [["unknown_model"], ["non_finite"], ["non_finite"]]
    (letter,) = api.client.get("/v1/deadletters", params={"reason": "unknown_model"}).json()
    assert letter["payload"]["model"] == "ghost" and letter["payload"]["n"] is None  # inf
    assert api.client.post(URL, json=api.valid(2)).json()["accepted"] == 2
    assert api.stored_once()


def test_nan_is_missing_in_arrays_and_ndjson_as_in_single_objects(api: Api) -> None:
    """Issue case 3: NaN inside an array made the whole body `not_an_object`."""
    one, two, three = api.valid(3)
    body = b'[{"model":"m","event_id":"%s","features":{"x":NaN},"prediction":0.5},%s]' % (
        one["event_id"].encode(), orjson.dumps(two))  # fmt: skip
    answer = api.client.post(URL, content=body)
    assert answer.json()["accepted"] == 2 and answer.json()["rejected"] == []
    line = b'{"model":"m","event_id":"%s","features":{"x":NaN},"prediction":0.5}' % (
        three["event_id"].encode())  # fmt: skip
    assert api.client.post(URL, content=line + b"\n", headers=NDJSON).json()["accepted"] == 1
    stored = {r.event_id: r for r in api.store.read_predictions("m", 0, 2**62)}
    assert stored[one["event_id"]].nulls == ["x"] and stored[three["event_id"]].nulls == ["x"]
    nan_prediction = b'[{"model":"m","features":{"x":1},"prediction":NaN}]'
    assert reasons(api.client.post(URL, content=nan_prediction)) == ["non_finite"]
    assert api.stored_once()


def test_per_event_size_limit_holds_for_objects_arrays_and_ndjson(api: Api) -> None:
    """Issue case 4: a 1 MB event was accepted."""
    big = {"model": "m", "features": {"x": 1, "pad": "a" * 1000}, "prediction": 1,
           "note": "a" * 1_000_000}  # fmt: skip
    assert reasons(api.client.post(URL, json=big)) == ["too_large"]
    small = api.valid(2)
    answer = api.client.post(URL, json=[small[0], big, small[1]])
    assert answer.json()["accepted"] == 2
    assert answer.json()["rejected"][0]["index"] == 1 and reasons(answer) == ["too_large"]
    lines = b"\n".join(orjson.dumps(e) for e in [big, *api.valid(1)])
    answer = api.client.post(URL, content=lines, headers=NDJSON)
    assert answer.json()["accepted"] == 1 and reasons(answer) == ["too_large"]
    assert api.stored_once()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_the_body_limit_is_enforced_while_reading(api: Api) -> None:
    """Issue case 4: a 500 MB chunked body was buffered whole before the check (+1 GB RSS).

    The daemon runs in this process: its resident memory is sampled while 320 MB
    stream in; buffering them would add at least that much.
    """
    baseline = rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, rss_bytes())

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(5_000):
            yield b" " * 65_536

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer = api.client.post(URL, content=chunks())
    finally:
        done.set()
        sampler.join()
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    assert peak - baseline < 128 * 1024 * 1024
    # a declared length beyond the limit is refused before any of the body is read
    with socket.create_connection(("127.0.0.1", api.client.base_url.port or 80)) as raw:
        raw.sendall(
            b"POST " + URL.encode() + b" HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 999999999\r\n\r\n{"
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 413")  # fmt: skip
    assert api.client.post(URL, json=api.valid(1)).json()["accepted"] == 1


def test_work_per_request_is_bounded(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Issue case 7: 500,000 numbers wrote 500,000 dead letters and log lines."""
    caplog.set_level("INFO", logger="driftd")
    numbers = b"[" + b",".join([b"1"] * 500_000) + b"]"
    started = time.monotonic()
    answer = api.client.post(URL, content=numbers)
    assert answer.status_code == 413 and answer.json()["error"] == "too_many_events"
    assert time.monotonic() - started < 60  # a generous bound on a loaded machine
    answer = api.client.post(URL, content=b"[" + b",".join([b"1"] * 5_000) + b"]")
    body = answer.json()
    assert body["accepted"] == 0 and body["rejected_total"] == 5_000
    assert body["rejected_by_reason"] == {"not_an_object": 5_000}
    assert len(body["rejected"]) == 20  # listed one by one up to the cap, the rest counted
    letters = api.client.get("/v1/deadletters", params={"limit": 10_000}).json()
    assert len(letters) == 21
    (summary,) = [d for d in letters if d["reason"] == "rejections_summarised"]
    assert summary["detail"] == "4980 more rejected events of this request: not_an_object=4980"
    dead_letter_lines = [r for r in caplog.records if "not_an_object" in r.getMessage()]
    assert len(dead_letter_lines) <= 2


def test_a_retried_request_is_stored_once(api: Api) -> None:
    """A client that did not hear the answer sends the same events again (issue item 5)."""
    events = api.valid(30)
    first = api.client.post(URL, json=events[:20])
    again = api.client.post(URL, json=events)  # 20 repeats and 10 new ones
    assert first.json()["accepted"] == 20 and again.json()["accepted"] == 30
    assert api.stored_once()
    twice_in_one = api.valid(1) * 2
    assert api.client.post(URL, json=twice_in_one).json()["accepted"] == 2
    assert api.stored_once()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"from": "\u00b2"}, "from"),
        ({"from": "9" * 5000}, "from"),
        ({"to": "\u0663\u0664"}, "to"),  # Arabic-Indic digits
        ({"to": "2026-13-45T99:00:00Z"}, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
def test_every_query_parameter_is_validated(api: Api, params: dict[str, str], name: str) -> None:
    """Issue case 5: `from=%C2%B2` and a 5,000-digit `from` answered 500."""
    for path in ("/v1/models/m/drift", "/v1/deadletters"):
        answer = api.client.get(path, params=params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_time" and f"'{name}'" in answer.json()["detail"]
    limit = api.client.get("/v1/deadletters", params={"limit": "9" * 5000})
    assert limit.status_code == 422 and "limit" in limit.json()["detail"]


TOKENS = [b"{", b"NaN", b'"\\ud800"', b"1e999", b"[", b"]", b",", b":", b'"model"', b'"m"',
          b'"features"', b'{"x":1}', b'"prediction"', b"9" * 30, b"}", b"null"]  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.binary(max_size=200), max_size=6)
    | st.lists(st.sampled_from(TOKENS), max_size=20).map(lambda p: [b"".join(p)]),
    st.booleans(),
)  # fmt: skip
def test_fuzzed_bodies_never_fail_and_every_event_is_accounted_for(
    api: Api, pieces: list[bytes], ndjson: bool
) -> None:
    before = api.store.count("predictions")
    body = b"\n".join(pieces) if ndjson else b"".join(pieces)
    answer = api.client.post(URL, content=body, headers=NDJSON if ndjson else {})
    assert answer.status_code in (200, 413), answer.text
    if answer.status_code == 200:
        got = answer.json()
        stored = api.store.count("predictions") - before
        assert stored == got["accepted"]
        if ndjson:
            assert got["accepted"] + got["rejected_total"] == len(
                [p for p in body.split(b"\n") if p.strip()]
            )
    assert api.client.get("/readyz").status_code == 200


def test_ndjson_counts_events_not_blank_lines(api: Api) -> None:
    lines = b"\n\n".join(orjson.dumps(e) for e in api.valid(3)) + b"\n" * 100_000
    assert api.client.post(URL, content=lines, headers=NDJSON).json()["accepted"] == 3
    many = b"\n".join([b"{}"] * 10_001)
    answer = api.client.post(URL, content=many, headers=NDJSON)
    assert answer.status_code == 413 and answer.json()["error"] == "too_many_events"
    assert api.stored_once()
