"""Event ingest over HTTP: a JSON object, a JSON array, or NDJSON (one object per line).

The events go through the same pipeline as Kafka's, batched with other
requests (group commit); the answer comes once they are stored and lists the
rejected ones by position with their reason.

Everything documented for one object holds for each element of an array and
each line of NDJSON: NaN is missing, ``limits.max_payload_bytes`` applies to
each event, reasons are given per position. The work one request can cause is
bounded: the body limit (``api.max_body_bytes``) is enforced while the body is
read (413 before it is buffered whole), at most ``limits.max_events_per_request``
events per request (413 ``too_many_events``, nothing stored), and at most
``limits.max_dead_letters_per_request`` rejections are written and listed one
by one; the rest are counted per reason (``rejected_by_reason``).

With Kafka enabled, an answer 503 ``kafka_unavailable`` that lists
``not_published`` positions means exactly those events were not published (the
others were): resend only them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from driftd.api.auth import Principal
from driftd.api.deps import ServicesDep
from driftd.api.errors import PROBLEM_TYPE, ErrorBody, problem, problem_instance
from driftd.collector.messages import Kind, Message
from driftd.errors import DecodeError
from driftd.events import EventLimits, OutcomeEvent, PredictionEvent, loads, printable

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])

_LINE = re.compile(rb"[^\n]+")
_NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class Rejected(BaseModel):
    index: int
    reason: str
    detail: str


class IngestAnswer(BaseModel):
    """``rejected`` lists at most ``limits.max_dead_letters_per_request`` rejections;
    ``rejected_total`` and ``rejected_by_reason`` count them all."""

    accepted: int
    rejected: list[Rejected]
    rejected_total: int = 0
    rejected_by_reason: dict[str, int] = {}


class NotPublished(IngestAnswer):
    """503 with Kafka enabled: these positions were not published; the rest were.

    A problem (RFC 9457) whose extension members are the ingest answer's.
    """

    type: str = PROBLEM_TYPE + "kafka_unavailable"
    title: str = "Kafka unavailable"
    status: int = 503
    instance: str
    error: str
    detail: str
    not_published: list[int]


class _TooLargeError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail


async def _read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _TooLargeError("too_large", f"request body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _TooLargeError("too_large", f"request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _encoded_size(item: Any) -> int:
    try:
        return len(orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # a lone surrogate or a huge integer: measure it the stdlib's way
        try:
            return len(orjson.dumps(repr(item)))
        except TypeError:
            return len(repr(item).encode("utf-8", "surrogatepass"))


def _messages(kind: Kind, body: bytes, content_type: str, limits: EventLimits) -> list[Message]:
    now_ms = int(time.time() * 1000)
    cap = limits.max_events_per_request
    if content_type.split(";", maxsplit=1)[0].strip().lower() in _NDJSON_TYPES:
        messages: list[Message] = []
        for match in _LINE.finditer(body):  # lazily: a body of blank lines costs nothing
            line = match.group()
            if line.strip():
                if len(messages) == cap:
                    raise _TooLargeError("too_many_events", f"more than {cap} events")
                messages.append(Message(kind, line, None, now_ms))
        return messages
    try:
        doc: Any = loads(body)
    except DecodeError:
        return [Message(kind, body, None, now_ms)]  # the pipeline names it: invalid_json
    if not isinstance(doc, list):
        return [Message(kind, doc, None, now_ms, size=len(body))]
    if len(doc) > cap:
        raise _TooLargeError("too_many_events", f"{len(doc)} events; more than {cap}")
    if len(body) <= limits.max_payload_bytes:  # no element can be larger than the body
        return [Message(kind, item, None, now_ms, size=0) for item in doc]
    return [
        Message(kind, item, None, now_ms, size=_encoded_size(item) if isinstance(item, dict) else 0)
        for item in doc
    ]


def _foreign_model(request: Request, messages: list[Message]) -> bool:
    """True when a key restricted to some models sends an event for another."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.key is None or not principal.key.models:
        return False
    for msg in messages:
        value = msg.value
        if isinstance(value, bytes):
            try:
                value = loads(value)
            except DecodeError:
                continue  # dead-lettered as invalid_json, for no model
        model = value.get("model") if isinstance(value, dict) else None
        if isinstance(model, str) and not principal.sees(model):
            return True
    return False


async def _ingest(kind: Kind, request: Request, services: ServicesDep) -> Any:
    limits = services.pipeline.limits
    api = services.settings.api
    try:
        body = await asyncio.wait_for(_read_body(request, api.max_body_bytes), api.body_timeout_s)
        messages = _messages(kind, body, request.headers.get("content-type", ""), limits)
    except _TooLargeError as exc:
        return problem(request, 413, exc.reason, exc.detail)
    except TimeoutError:
        detail = f"the body did not arrive within {api.body_timeout_s:g} s"
        return problem(request, 408, "body_timeout", detail)
    if _foreign_model(request, messages):
        return problem(request, 404, "model_not_found", "no such model")
    if not messages:
        return IngestAnswer(accepted=0, rejected=[])
    outcome = await asyncio.wrap_future(services.ingest.submit(messages))
    listed = limits.max_dead_letters_per_request
    answer = IngestAnswer(
        accepted=outcome.accepted,
        rejected=[
            Rejected(index=d.index, reason=d.reason, detail=printable(d.detail))
            for d in outcome.rejected[:listed]
        ],
        rejected_total=len(outcome.rejected),
        rejected_by_reason=dict(Counter(d.reason for d in outcome.rejected)),
    )
    if outcome.unpublished:
        body_503 = NotPublished(
            **answer.model_dump(),
            instance=problem_instance(request),
            error="kafka_unavailable",
            detail="Kafka did not acknowledge some events; resend only those in not_published",
            not_published=outcome.unpublished,
        )
        return JSONResponse(
            status_code=503, content=body_503.model_dump(), media_type="application/problem+json"
        )
    return answer


_DOC = {
    "404": {"model": ErrorBody, "description": "an event for a model this API key cannot see"},
    "408": {"model": ErrorBody, "description": "the body arrived too slowly"},
    "413": {"model": ErrorBody, "description": "body too large, or too many events"},
    "503": {"model": NotPublished, "description": "storage or Kafka unavailable"},
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
async def post_predictions(request: Request, services: ServicesDep) -> Any:
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
async def post_outcomes(request: Request, services: ServicesDep) -> Any:
    """Ingest outcome events (ground truth), joined later to predictions by request id."""
    return await _ingest("outcomes", request, services)
