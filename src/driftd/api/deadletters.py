"""Dead letters kept in storage: the sink of a sidecar that runs without Kafka.

With Kafka enabled, dead letters go to the dead-letter topic instead, and this
list stays empty.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from driftd.api.deps import ServicesDep, time_range
from driftd.api.errors import ErrorBody
from driftd.api.paging import CURSOR_DESCRIPTION, decode_cursor, next_page
from driftd.errors import DecodeError
from driftd.events import loads

__all__ = ["router"]

router = APIRouter(prefix="/v1/deadletters", tags=["dead letters"])


class DeadLetterOut(BaseModel):
    """One rejected event; ``payload`` is the scrubbed event, null if it never decoded."""

    time: int
    kind: str
    reason: str
    detail: str
    payload: dict[str, Any] | None
    source: str | None


@router.get(
    "",
    response_model=list[DeadLetterOut],
    responses={400: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def list_dead_letters(
    request: Request,
    response: Response,
    services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", description="epoch ms or RFC 3339")] = None,
    to: Annotated[str | None, Query(description="epoch ms or RFC 3339")] = None,
    reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
) -> list[DeadLetterOut]:
    """Rejected events, newest first (default: the last 7 days), ``limit`` a page.

    More than a page: the ``Link`` header (``rel="next"``) is the next, older page.
    """
    from_ms, to_ms = time_range(from_, to)
    if cursor is not None:
        to_ms = decode_cursor(cursor)
    rows = await asyncio.to_thread(
        services.store.read_dead_letters, from_ms, to_ms, reason, limit + 1
    )
    rows = next_page(rows, limit, lambda d: d.received_ms, request, response)
    return [
        DeadLetterOut(
            time=d.received_ms,
            kind=d.kind,
            reason=d.reason,
            detail=d.detail,
            payload=_payload(d.payload_json),
            source=f"{d.src_topic}/{d.src_partition}/{d.src_offset}" if d.src_topic else None,
        )
        for d in rows
    ]


def _payload(text: str) -> dict[str, Any] | None:
    """The stored payload (it may escape lone surrogates, which strict parsers refuse)."""
    if not text:
        return None
    try:
        value = loads(text.encode("utf-8", "surrogatepass"))
    except DecodeError:
        return None
    return value if isinstance(value, dict) else None
