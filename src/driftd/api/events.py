"""Event ingest over HTTP: a JSON object, a JSON array, or NDJSON (one object per line).

The events go through the same pipeline as Kafka's, batched with other
requests (group commit); the answer comes once they are stored and lists the
rejected ones by position with their reason.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel

from driftd.api.deps import ServicesDep
from driftd.api.errors import ErrorBody
from driftd.collector.messages import Kind, Message
from driftd.errors import DecodeError
from driftd.events import OutcomeEvent, PredictionEvent

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])

_NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class Rejected(BaseModel):
    index: int
    reason: str
    detail: str


class IngestAnswer(BaseModel):
    accepted: int
    rejected: list[Rejected]


def _messages(kind: Kind, body: bytes, content_type: str, max_bytes: int) -> list[Message]:
    if len(body) > max_bytes:
        raise DecodeError("too_large", f"request body exceeds {max_bytes} bytes")
    now_ms = int(time.time() * 1000)
    if content_type.split(";", maxsplit=1)[0].strip().lower() in _NDJSON_TYPES:
        lines = [line for line in body.split(b"\n") if line.strip()]
        return [Message(kind, line, None, now_ms) for line in lines]
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Not strict JSON (maybe NaN from a Python producer): let the pipeline judge it.
        return [Message(kind, body, None, now_ms)]
    items = doc if isinstance(doc, list) else [doc]
    return [Message(kind, item, None, now_ms) for item in items]


async def _ingest(kind: Kind, request: Request, services: ServicesDep) -> IngestAnswer:
    body = await request.body()
    max_bytes = services.settings.api.max_body_bytes
    messages = _messages(kind, body, request.headers.get("content-type", ""), max_bytes)
    if not messages:
        return IngestAnswer(accepted=0, rejected=[])
    outcome = await asyncio.wrap_future(services.ingest.submit(messages))
    return IngestAnswer(
        accepted=outcome.accepted,
        rejected=[
            Rejected(index=d.index, reason=d.reason, detail=d.detail) for d in outcome.rejected
        ],
    )


_DOC = {
    "400": {"model": ErrorBody, "description": "body too large"},
    "503": {"model": ErrorBody, "description": "storage unavailable"},
}


@router.post(
    "/predictions",
    response_model=IngestAnswer,
    responses=_DOC,  # type: ignore[arg-type]
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": PredictionEvent.model_json_schema()},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def post_predictions(request: Request, services: ServicesDep) -> IngestAnswer:
    """Ingest prediction events (object, array or NDJSON)."""
    return await _ingest("predictions", request, services)


@router.post(
    "/outcomes",
    response_model=IngestAnswer,
    responses=_DOC,  # type: ignore[arg-type]
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": OutcomeEvent.model_json_schema()},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def post_outcomes(request: Request, services: ServicesDep) -> IngestAnswer:
    """Ingest outcome events (ground truth), joined later to predictions by request id."""
    return await _ingest("outcomes", request, services)
