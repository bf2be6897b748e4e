"""``POST /v1/events/kserve``: KServe's payload logger, CloudEvents in binary or structured mode.

The answer (202) comes as soon as the half is paired in memory: the KServe
logger blocks inference when its queue of 100 fills, so nothing here waits
for storage. Complete pairs go to the normal ingest path; halves alone past
``kserve.pair_timeout_s`` are dead-lettered (``kserve_unpaired``) by a sweep
scheduled on the server's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from driftd.api.auth import AuthError
from driftd.api.deps import ServicesDep
from driftd.api.errors import ErrorBody
from driftd.collector.kserve import from_http
from driftd.collector.kserve_ingest import KServeIngest, build_kserve
from driftd.errors import DecodeError
from driftd.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])


class KServeAnswer(BaseModel):
    predictions: int  # prediction events this half completed (0 while its pair is pending)
    pending: int  # halves waiting for their other half


class _Sweeper:
    """Dead-letters lone halves on the event loop's clock, while any are pending."""

    def __init__(self, kserve: KServeIngest) -> None:
        self.kserve = kserve
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()

    def ensure(self) -> None:
        if not self.scheduled and self.kserve.pairer.pending:
            self.scheduled = True
            loop = asyncio.get_running_loop()
            loop.call_later(self.kserve.pairer.timeout_s / 2, self._fire)

    def _fire(self) -> None:
        self.scheduled = False
        task = asyncio.get_running_loop().create_task(self._sweep())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _sweep(self) -> None:
        letters = self.kserve.expired()
        if letters:
            await asyncio.to_thread(self.kserve.publish, letters)
        self.ensure()


def _kserve(request: Request, services: Services) -> tuple[KServeIngest, _Sweeper]:
    state: Any = request.app.state
    found: tuple[KServeIngest, _Sweeper] | None = getattr(state, "kserve", None)
    if found is None:
        kserve = build_kserve(services)
        found = (kserve, _Sweeper(kserve))
        state.kserve = found
    return found


_STRUCTURED = {
    "description": "A CloudEvent in structured mode (binary mode: ce-* headers, the data as body)",
    "type": "object",
    "required": ["specversion", "id", "source", "type", "data"],
    "properties": {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9-]+$"},
        "source": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9/-]+$"},
        "type": {
            "type": "string",
            "enum": [
                "org.kubeflow.serving.inference.request",
                "org.kubeflow.serving.inference.response",
            ],
        },
        "data": {"type": "object"},
    },
}


@router.post(
    "/kserve",
    status_code=202,
    response_model=KServeAnswer,
    responses={
        "400": {"model": ErrorBody, "description": "not a KServe CloudEvent"},
        "404": {"model": ErrorBody, "description": "the API key is held to some models"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": _STRUCTURED},
            },
        }
    },
)
async def post_kserve(request: Request, services: ServicesDep) -> KServeAnswer:
    """One CloudEvent from KServe's payload logger (request or response half)."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.key is not None and principal.key.models:
        # the model is known only after pairing: a key held to some models cannot use this
        raise AuthError(404, "model_not_found", "no such model")
    body = await request.body()
    if len(body) > services.settings.api.max_body_bytes:
        raise DecodeError(
            "too_large", f"request body exceeds {services.settings.api.max_body_bytes}"
        )
    event = from_http(request.headers, body)
    kserve, sweeper = _kserve(request, services)
    completed, letters = kserve.accept(event)
    letters += kserve.expired()  # cheap: looks at the oldest pending half
    if letters:
        await asyncio.to_thread(kserve.publish, letters)
    sweeper.ensure()
    return KServeAnswer(predictions=completed, pending=kserve.pairer.pending)
