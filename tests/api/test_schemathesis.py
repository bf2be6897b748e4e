"""Schemathesis against the app's own OpenAPI schema, in process, with its default checks:
no 5xx, status codes, content types and bodies as the schema documents them.

Every default check but ``positive_data_acceptance``: a baseline profile and a
KServe payload are validated beyond what their schemas can say (a 400 naming
what is wrong is the documented answer), so schema-valid is not always valid.

Run with keys required and a valid admin key, so every operation is reached (and
once without a key: every answer is a documented refusal, never a 5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from driftd.api.app import create_app
from driftd.config import load_settings
from driftd.services import Services, build_services
from driftd.storage import InMemoryControlStore, InMemoryEventStore


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    cfg = load_settings(
        None,
        api={"auth": "keys", "max_body_bytes": 64 * 1024},
        collector={"batch_max_wait_ms": 5},
        limits={"max_events_per_request": 50},
    )
    built = build_services(cfg, store=InMemoryEventStore(), control=InMemoryControlStore())
    built.ingest.start()
    try:
        yield built
    finally:
        built.stopping.set()
        built.close()


@pytest.fixture(scope="module")
def admin_key(services: Services) -> str:
    token, _ = services.api_keys.create("fuzz", ["admin"])
    return token


def _operations(services: Services) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # starlette's TestClient on httpx
def test_api_conforms_to_its_schema(services: Services, admin_key: str) -> None:
    operations = _operations(services)
    assert len(operations) >= 8
    headers = {"Authorization": f"Bearer {admin_key}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_without_a_key_every_answer_is_a_documented_refusal(services: Services) -> None:
    for operation in _operations(services):

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            open_path = case.path in ("/healthz", "/readyz", "/metrics")
            assert response.status_code < 500
            assert open_path or response.status_code == 401

        check()
