"""KServe's documented payloads through a real daemon's ``POST /v1/events/kserve`` into storage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.collector.kserve_docs import (
    IRIS,
    V1_REQUEST,
    V1_RESPONSE,
    V2_REQUEST,
    V2_RESPONSE,
    binary,
    iris_frame,
    structured,
)
from tests.daemons import running_daemon, upload_baseline

from driftd.daemon import Daemon

FAR = 4_102_444_800_000


@pytest.fixture
def daemon(chdb_url: str, database: str, tmp_path: Path) -> Iterator[Daemon]:
    kserve = {
        "pair_timeout_s": 0.5,
        "models": {
            "sklearn-iris": {"feature_names": list(IRIS)},
            "sklearn-irisv2": {"model": "iris2", "feature_names": list(IRIS)},
        },
    }
    with running_daemon(chdb_url, database, tmp_path, kserve=kserve) as daemon:
        for model in ("sklearn-iris", "iris2"):
            upload_baseline(daemon, iris_frame(5), model, "v1.0.0", "label")
        yield daemon


def post(client: httpx.Client, mode: Any, event: dict[str, Any]) -> httpx.Response:
    headers, body = mode(event)
    return client.post("/v1/events/kserve", content=orjson.dumps(body), headers=headers)


def stored(daemon: Daemon, model: str, expected: int) -> list[Any]:
    assert daemon.services is not None
    deadline = time.monotonic() + 60
    while True:
        rows = daemon.services.store.read_predictions(model, 0, FAR)
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.mark.parametrize("mode", [binary, structured])
def test_kserve_doc_payloads_land_in_storage(daemon: Daemon, mode: Any) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
        first = post(client, mode, V1_REQUEST)
        assert first.status_code == 202 and first.json() == {"predictions": 0, "pending": 1}
        assert post(client, mode, V1_RESPONSE).json() == {"predictions": 2, "pending": 0}
        assert post(client, mode, V1_RESPONSE).json()["predictions"] == 0  # a redelivery
        assert post(client, mode, V2_RESPONSE).json()["pending"] == 1
        assert post(client, mode, V2_REQUEST).json()["predictions"] == 2
    v1 = sorted(stored(daemon, "sklearn-iris", 2), key=lambda r: r.request_id)
    rid = V1_REQUEST["id"]
    assert [r.request_id for r in v1] == [f"{rid}:0", f"{rid}:1"]
    assert v1[0].num == dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True))
    assert [r.pred_num for r in v1] == [1.0, 1.0]
    assert v1[0].latency_ms == 2.0 and v1[0].timestamp_ms == 1_618_014_206_078
    v2 = sorted(stored(daemon, "iris2", 2), key=lambda r: r.request_id)
    assert [r.pred_num for r in v2] == [1.0, 2.0] and {r.model_version for r in v2} == {"v1.0.0"}
    assert v2[1].num == dict(zip(IRIS, [6.0, 3.4, 4.5, 1.6], strict=True))


def test_a_lone_half_is_dead_lettered_after_the_timeout(daemon: Daemon) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
        lone = {**V1_REQUEST, "id": "lonely-1", "data": {"instances": [[1, 2, 3, 4]],
                                                         "email": "a@b.c"}}  # fmt: skip
        assert post(client, binary, lone).json()["pending"] == 1
        deadline = time.monotonic() + 60
        letters: list[Any] = []
        while not letters and time.monotonic() < deadline:
            time.sleep(0.1)  # the sweep runs on the server's loop, with no further traffic
            letters = client.get("/v1/deadletters", params={"reason": "kserve_unpaired"}).json()
        (letter,) = letters
        assert letter["payload"]["request_id"] == "lonely-1"
        assert "email" not in letter["payload"]["data"]  # scrubbed like every dead letter
        assert "no response" in letter["detail"]
        bad = client.post("/v1/events/kserve", content=b"{}", headers={"ce-id": "x"})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_cloudevent"
