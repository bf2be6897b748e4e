"""Error answers: ``{"error": code, "detail": text}``, never a stack trace or internals."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from driftd.errors import (
    BaselineError,
    BaselineExistsError,
    BaselineNotFoundError,
    EventError,
    SourceError,
    StorageError,
)

__all__ = ["ErrorBody", "install_error_handlers"]

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    error: str
    detail: str


def _answer(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _answer(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(BaselineExistsError)
    async def _exists(request: Request, exc: BaselineExistsError) -> JSONResponse:
        return _answer(409, "baseline_exists", str(exc))

    @app.exception_handler(BaselineNotFoundError)
    async def _missing(request: Request, exc: BaselineNotFoundError) -> JSONResponse:
        return _answer(404, "baseline_not_found", str(exc))

    @app.exception_handler(BaselineError)
    async def _baseline(request: Request, exc: BaselineError) -> JSONResponse:
        return _answer(400, "invalid_baseline", str(exc))

    @app.exception_handler(EventError)
    async def _event(request: Request, exc: EventError) -> JSONResponse:
        return _answer(400, exc.reason, exc.detail)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        logger.error("storage error answering %s: %s", request.url.path, exc)
        return _answer(503, "storage_unavailable", "storage is unavailable; retry later")

    @app.exception_handler(SourceError)
    async def _source(request: Request, exc: SourceError) -> JSONResponse:
        logger.error("Kafka error answering %s: %s", request.url.path, exc)
        return _answer(503, "kafka_unavailable", "Kafka is unavailable; retry later")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error answering %s", request.url.path)
        return _answer(500, "internal_error", "internal error; see the daemon's log")
