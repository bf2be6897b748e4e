"""The ASGI middleware in a real FastAPI model server (in-process)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from driftd.events import parse_prediction
from driftd.shim import MemoryTransport, PredictionLogger, PredictionMiddleware
from tests.shim.conftest import serve


def server(memory: MemoryTransport, **options: Any) -> tuple[FastAPI, PredictionLogger]:
    log = PredictionLogger(
        "iris", "v1", transport=memory, register_atexit=False, flush_interval_s=0.01
    )
    app = FastAPI()
    options.setdefault("paths", ["/predict"])
    app.add_middleware(PredictionMiddleware, logger=log, **options)

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        rows = body.get("instances", [body])
        return {"predictions": [len(r) for r in rows], "rid": request.state.request_id}

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/fail")
    async def fail() -> JSONResponse:
        return JSONResponse({"error": "overloaded"}, status_code=503)

    return app, log


def test_requests_and_responses_are_logged_with_their_request_id() -> None:
    memory = MemoryTransport()
    app, log = server(memory, feature_names=["a", "b", "c"])
    with serve(app) as url, httpx.Client(base_url=url) as client:
        given = client.post("/predict", json={"x": 1, "y": "u"}, headers={"x-request-id": "r-1"})
        assert given.headers["x-request-id"] == "r-1" and given.json()["rid"] == "r-1"
        cloud = client.post("/predict", json={"x": 2}, headers={"ce-id": "ce-9"})
        assert cloud.headers["x-request-id"] == "ce-9"
        made = client.post("/predict", json={"instances": [[1, 2, 3], [4, 5]]})
        rid = made.headers["x-request-id"]
        assert rid and made.json()["rid"] == rid
        assert client.get("/other").json() == {"ok": "yes"}
    # stopping the server runs the lifespan shutdown, which flushes and closes the logger
    assert log.stats.delivered == 4
    records = [parse_prediction(e, received_ms=0) for _, e in memory.events]
    assert [r.request_id for r in records] == ["r-1", "ce-9", f"{rid}:0", f"{rid}:1"]
    assert records[0].num == {"x": 1.0} and records[0].cat == {"y": "u"}
    assert records[2].num == {"a": 1.0, "b": 2.0, "c": 3.0} and records[2].pred_num == 3.0
    assert records[3].num == {"a": 4.0, "b": 5.0}
    assert all(r.latency_ms is not None and r.latency_ms > 0 for r in records)


def test_errors_and_unreadable_bodies_are_not_logged_and_never_break_serving() -> None:
    memory = MemoryTransport()
    app, log = server(memory, paths=["/predict", "/fail"])
    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/fail", json={"x": 1}).status_code == 503
        assert client.post("/predict", json={"instances": [{"x": 1}]}).status_code == 200
    assert len(memory.events) == 1 and log.stats.invalid == 0  # the 503 is not logged
    bad_app, bad_log = server(MemoryTransport(), predictions=lambda body: [1, 2, 3])
    with serve(bad_app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/predict", json={"x": 1}).status_code == 200
    assert bad_log.stats.invalid == 1 and bad_log.stats.delivered == 0
