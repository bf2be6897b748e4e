"""The HTTP API against a real in-process daemon (embedded chDB, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from driftd import __version__
from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.detectors import profile_dataframe

MODEL = "fraud"


@pytest.fixture
def api(chdb_url: str, database: str, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": 0, "max_body_bytes": 64 * 1024},
        window={"size": 50, "min_size": 50},
        collector={"batch_max_wait_ms": 20},
    )  # fmt: skip
    daemon = Daemon(settings, "all")
    daemon.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
            yield client
    finally:
        daemon.stop()


def frame(n: int = 2_000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame({"amount": rng.lognormal(3 + shift, 1, n),
                         "merchant": rng.choice(["shop", "travel", "food"], n),
                         "score": rng.random(n)})  # fmt: skip


def upload(api: httpx.Client, version: str, data: pd.DataFrame) -> httpx.Response:
    profile = profile_dataframe(data, MODEL, version, prediction="score")
    return api.post(f"/v1/models/{MODEL}/baselines", json={"profile": profile.to_dict()})


def events(data: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"model": MODEL, "event_id": f"e{i}", "timestamp": 1_700_000_000_000 + i * 1000,
         "features": {"amount": float(r.amount), "merchant": r.merchant},
         "prediction": float(r.score)}
        for i, r in enumerate(data.itertuples())
    ]  # fmt: skip


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {
        "status": "ok",
        "service": "driftd",
        "version": __version__,
    }
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "clickhouse": "ok",
        "control": "ok",
        "pipeline": "ok",
        "storage_writes": "ok",
    }


def test_baselines_are_immutable(api: httpx.Client) -> None:
    first = upload(api, "v1", frame())
    assert first.status_code == 201 and first.json()["features"] == 2
    assert upload(api, "v1", frame()).status_code == 200  # identical: a no-op
    clash = upload(api, "v1", frame(shift=1.0))
    assert clash.status_code == 409
    assert clash.json()["error"] == "baseline_exists" and "v1" in clash.json()["detail"]
    assert upload(api, "v2", frame(shift=1.0)).status_code == 201
    listed = api.get(f"/v1/models/{MODEL}/baselines").json()
    assert [b["version"] for b in listed] == ["v2", "v1"]  # newest first, as documented
    assert [b["features"] for b in listed] == [2, 2]  # the listing reads the profile's outline
    detail = api.get(f"/v1/models/{MODEL}/baselines/v1").json()
    assert detail["summary"]["fingerprint"] == first.json()["fingerprint"]
    assert set(detail["profile"]["features"]) == {"amount", "merchant"}
    missing = api.get(f"/v1/models/{MODEL}/baselines/v9")
    assert missing.status_code == 404 and missing.json()["error"] == "baseline_not_found"
    assert api.get("/v1/models").json() == [{"name": MODEL}]


def test_ingest_object_array_and_ndjson_then_query_drift(api: httpx.Client) -> None:
    upload(api, "v1", frame())
    live = events(frame(150, shift=1.5))
    one = api.post("/v1/events/predictions", json=live[0])
    assert one.json() == {"accepted": 1, "rejected": [], "rejected_total": 0,
                          "rejected_by_reason": {}}  # fmt: skip
    arr = api.post("/v1/events/predictions", json=[*live[1:100], {"model": MODEL}])
    assert arr.json()["accepted"] == 99
    assert arr.json()["rejected"] == [
        {"index": 99, "reason": "missing_field", "detail": "'features' is required"}
    ]
    import orjson

    body = b"\n".join(orjson.dumps(e) for e in live[100:]) + b"\n"
    nd = api.post(
        "/v1/events/predictions", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert nd.json()["accepted"] == 50 and nd.json()["rejected_total"] == 0

    points = api.get(
        f"/v1/models/{MODEL}/drift", params={"from": 0, "to": "2100-01-01T00:00:00Z"}
    ).json()
    assert {p["window_id"] for p in points} == {0, 1, 2}
    amount = [p for p in points if p["feature"] == "amount" and p["metric"] == "psi"]
    assert len(amount) == 3 and all(p["value"] > 0.25 and p["n"] == 50 for p in amount)
    assert amount[0]["time"] == 1_700_000_000_000 + 49_000  # window end, epoch ms
    ks = [p for p in points if p["feature"] == "amount" and p["metric"] == "ks"]
    assert len(ks) == 3 and all(p["severity"] == "critical" and p["p_value"] < 1e-6 for p in ks)
    flagged = api.get(
        f"/v1/models/{MODEL}/drift",
        params={"from": 0, "to": 4_102_444_800_000, "severity": "critical", "metric": "ks",
                "baseline_version": "v1", "limit": 2},
    ).json()  # fmt: skip
    assert [(p["feature"], p["window_id"]) for p in flagged] == [("amount", 1), ("amount", 2)]
    summary = api.get(f"/v1/models/{MODEL}/drift/summary").json()
    assert summary["severity"] == "critical"
    by_feature = {f["feature"]: f for f in summary["features"]}
    assert by_feature["amount"]["severity"] == "critical" and by_feature["amount"]["window_id"] == 2
    bad = api.get(f"/v1/models/{MODEL}/drift", params={"severity": "dire"})
    assert bad.status_code == 422
    only = api.get(
        f"/v1/models/{MODEL}/drift",
        params={"from": 0, "to": 4_102_444_800_000, "feature": "merchant"},
    ).json()
    assert {p["feature"] for p in only} == {"merchant"}
    metrics = api.get("/metrics").text
    assert 'driftd_events_stored_total{kind="predictions"} 150.0' in metrics
    assert 'driftd_dead_letters_total{kind="predictions",reason="missing_field"} 1.0' in metrics


def test_bad_requests_get_clear_errors(api: httpx.Client) -> None:
    big = api.post("/v1/events/predictions", content=b"[" + b" " * 70_000 + b"]")
    assert big.status_code == 413 and big.json()["error"] == "too_large"
    unknown = api.post(
        "/v1/events/predictions",
        json={"model": "ghost", "features": {"token": "t-1", "x": 1}, "prediction": 1},
    )
    assert unknown.json()["rejected"][0]["reason"] == "unknown_model"
    # without Kafka, dead letters are kept in storage, scrubbed
    (letter,) = api.get("/v1/deadletters", params={"reason": "unknown_model"}).json()
    assert letter["payload"]["features"] == {"x": 1} and letter["source"] is None
    assert letter["kind"] == "predictions" and letter["time"] > 0
    bad_time = api.get(f"/v1/models/{MODEL}/drift", params={"from": "last tuesday"})
    assert bad_time.status_code == 400 and bad_time.json()["error"] == "invalid_time"
    seconds = api.get(f"/v1/models/{MODEL}/drift", params={"from": "1796000000"})
    assert seconds.status_code == 400 and "send 1796000000000" in seconds.json()["detail"]
    bad_name = api.get("/v1/models/not a model!/drift")
    assert bad_name.status_code == 422 and bad_name.json()["error"] == "invalid_request"
    bad_profile = api.post(f"/v1/models/{MODEL}/baselines", json={"profile": {"model": MODEL}})
    assert bad_profile.status_code == 400
    assert "Traceback" not in bad_profile.text


def test_openapi_documents_the_routes(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/events/predictions",
        "/v1/events/outcomes",
        "/v1/models/{model}/drift",
        "/v1/models/{model}/baselines",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
