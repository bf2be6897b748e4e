"""Every error is RFC 9457 problem details, and OpenAPI documents exactly that."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.test_http_api import MODEL, api, frame, upload

from driftd.api.errors import PROBLEM_TYPE

__all__ = ["api"]  # the daemon fixture, shared with test_http_api

MEMBERS = {"type", "title", "status", "detail", "instance", "error"}


def problem(answer: httpx.Response, status: int, error: str, path: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert set(body) == MEMBERS, body
    assert body["type"] == PROBLEM_TYPE + error and body["error"] == error
    assert body["status"] == status and body["instance"] == path
    assert body["title"] and body["detail"]
    return body


def test_every_kind_of_error_is_a_problem(api: httpx.Client) -> None:
    assert upload(api, "v1", frame()).status_code == 201
    problem(api.get("/v1/nowhere"), 404, "not_found", "/v1/nowhere")
    problem(api.delete("/v1/models"), 405, "method_not_allowed", "/v1/models")
    bad = problem(api.get("/v1/models/not a model!/drift"), 422, "invalid_request",
                  "/v1/models/not a model!/drift")  # fmt: skip
    assert "model" in bad["detail"]
    path = f"/v1/models/{MODEL}/drift"
    problem(api.get(path, params={"limit": 0}), 422, "invalid_request", path)
    problem(api.get(path, params={"from": "last tuesday"}), 400, "invalid_time", path)
    path = f"/v1/models/{MODEL}/baselines/v9"
    missing = problem(api.get(path), 404, "baseline_not_found", path)
    assert "'v9'" in missing["detail"]
    path = f"/v1/models/{MODEL}/baselines"
    problem(upload(api, "v1", frame(shift=1.0)), 409, "baseline_exists", path)
    problem(api.post(path, json={"profile": {"model": MODEL}}), 400, "invalid_baseline", path)
    path = "/v1/events/predictions"
    too_large = api.post(path, content=b"[" + b"1," * 40_000 + b"1]",
                         headers={"content-type": "application/json"})  # fmt: skip
    problem(too_large, 413, "too_large", path)


def test_openapi_documents_problems_and_only_responses_that_can_happen(
    api: httpx.Client,
) -> None:
    doc = api.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == MEMBERS
    operations = {
        (method, path): op for path, item in doc["paths"].items() for method, op in item.items()
    }
    # operationIds are the handlers' names: stable across FastAPI versions and path edits
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids))
    assert operations[("get", "/v1/models/{model}/drift")]["operationId"] == "drift"
    assert operations[("get", "/v1/models/{model}/baselines")]["operationId"] == "list_baselines"
    for (method, path), op in operations.items():
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            (media,) = response["content"]
            schema = response["content"][media]["schema"]["$ref"].rsplit("/", 1)[-1]
            if (path, status) in {("/readyz", "503"), ("/v1/events/predictions", "503"),
                                  ("/v1/events/outcomes", "503")}:  # fmt: skip
                continue  # the readiness report, and the partial ingest answer (a problem too)
            assert (media, schema) == ("application/problem+json", "Problem"), (method, path)
        if method == "get":
            assert "409" not in op["responses"], path  # a read never conflicts
    drift = operations[("get", "/v1/models/{model}/drift")]["responses"]
    refusals = {"401", "403", "429"}  # API keys: missing or unknown, lacking scope, rate limit
    assert set(drift) == {"200", "400", "422", "503"} | refusals
    assert set(operations[("get", "/v1/models/{model}/baselines")]["responses"]) == {
        "200", "422", "503"
    } | refusals  # fmt: skip


def test_instance_masks_pii_in_the_path(api: httpx.Client) -> None:
    """A problem names the request's path, but never echoes PII a client put there."""
    for canary in ("jane.doe@example.com", "+44 20 7946 0958"):
        answer = api.get(f"/v1/models/{canary}/drift")
        assert answer.status_code == 422
        assert canary not in answer.text
        assert answer.json()["instance"].startswith("/v1/models/")
