"""Error answers: RFC 9457 problem details, never a stack trace or internals.

Every error is ``application/problem+json``::

    {"type": "urn:driftd:problem:baseline_not_found", "title": "Baseline not found",
     "status": 404, "detail": "no baseline for model 'm'", "instance": "/v1/models/m/...",
     "error": "baseline_not_found"}

``error`` (an extension member) is the short code ``type`` ends with, for
clients that switch on it. The OpenAPI document describes every error
response with this schema (:func:`document_problems`).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from driftd.errors import (
    BaselineError,
    BaselineExistsError,
    BaselineNotFoundError,
    EventError,
    SourceError,
    StorageError,
)

__all__ = [
    "PROBLEM_TYPE",
    "ErrorBody",
    "Problem",
    "document_problems",
    "install_error_handlers",
    "problem",
]

logger = logging.getLogger(__name__)


PROBLEM_TYPE = "urn:driftd:problem:"
"""Problem types are ``urn:driftd:problem:<error>``; docs/troubleshooting.md lists them."""

_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    "invalid_request": "The request does not match the API",
    "baseline_exists": "Baseline already exists with other data",
    "baseline_not_found": "Baseline not found",
    "invalid_baseline": "Invalid baseline",
    "invalid_time": "Invalid time parameter",
    "storage_unavailable": "Storage unavailable",
    "kafka_unavailable": "Kafka unavailable",
    "internal_error": "Internal error",
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(examples=[f"{PROBLEM_TYPE}baseline_not_found"])
    title: str = Field(examples=["Baseline not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no baseline for model 'credit-risk' version 'v9'"])
    instance: str = Field(examples=["/v1/models/credit-risk/baselines/v9"])
    error: str = Field(
        description="the short code ``type`` ends with", examples=["baseline_not_found"]
    )


ErrorBody = Problem
"""The former name, kept for routers that document their errors with it."""


def problem_instance(request: Request) -> str:
    """The request's path for ``instance``, with any PII in it masked (never echoed)."""
    from driftd.collector.pii import DROP

    path = request.url.path
    redactor = getattr(request.app.state, "path_redactor", None)
    if redactor is None:
        return path
    parts = []
    for segment in path.split("/"):  # each segment alone: PII patterns need their bounds
        clean = redactor.redact(segment)
        parts.append("[REDACTED]" if clean is DROP else str(clean))
    return "/".join(parts)


def problem(request: Request, status: int, error: str, detail: str) -> JSONResponse:
    """An ``application/problem+json`` answer."""
    title = _TITLES.get(error) or HTTPStatus(status).phrase
    body = Problem(
        type=PROBLEM_TYPE + error,
        title=title,
        status=status,
        detail=detail,
        instance=problem_instance(request),
        error=error,
    )
    return JSONResponse(status_code=status, content=body.model_dump(), media_type=_MEDIA_TYPE)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as a problem, and document them so (:func:`document_problems`)."""
    from driftd.collector.pii import Redactor

    app.state.path_redactor = Redactor({})  # masks every PII type in ``instance``
    document_problems(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return problem(request, 422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase
        error = phrase.lower().replace(" ", "_").replace("-", "_")
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        if exc.status_code == 404 and detail == phrase:
            detail = f"no such resource: {request.url.path}"
        answer = problem(request, exc.status_code, error, detail)
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value
        return answer

    @app.exception_handler(BaselineExistsError)
    async def _exists(request: Request, exc: BaselineExistsError) -> JSONResponse:
        return problem(request, 409, "baseline_exists", str(exc))

    @app.exception_handler(BaselineNotFoundError)
    async def _missing(request: Request, exc: BaselineNotFoundError) -> JSONResponse:
        return problem(request, 404, "baseline_not_found", str(exc))

    @app.exception_handler(BaselineError)
    async def _baseline(request: Request, exc: BaselineError) -> JSONResponse:
        return problem(request, 400, "invalid_baseline", str(exc))

    @app.exception_handler(EventError)
    async def _event(request: Request, exc: EventError) -> JSONResponse:
        return problem(request, 400, exc.reason, exc.detail)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        logger.error("storage error answering %s: %s", request.url.path, exc)
        return problem(request, 503, "storage_unavailable", "storage is unavailable; retry later")

    @app.exception_handler(SourceError)
    async def _source(request: Request, exc: SourceError) -> JSONResponse:
        logger.error("Kafka error answering %s: %s", request.url.path, exc)
        return problem(request, 503, "kafka_unavailable", "Kafka is unavailable; retry later")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error answering %s", request.url.path)
        return problem(request, 500, "internal_error", "internal error; see the daemon's log")


def document_problems(app: FastAPI) -> None:
    """Describe every error response in the OpenAPI document as a :class:`Problem`.

    FastAPI documents a 422 with its own schema (``HTTPValidationError``), which
    is not what the API answers: that and every response documented with
    :class:`Problem` become ``application/problem+json`` with the Problem schema.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        ref = {"$ref": "#/components/schemas/Problem"}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    refs = [c.get("schema", {}).get("$ref", "") for c in content.values()]
                    if status == "422" or any(
                        r.endswith(("/Problem", "/HTTPValidationError")) for r in refs
                    ):
                        example = {"schema": ref}
                        response["content"] = {_MEDIA_TYPE: example}
                        if status == "422":
                            response["description"] = "the request does not match the API"
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
