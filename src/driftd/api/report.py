"""``GET /v1/models/{model}/report``: the model's report as one self-contained HTML page."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from driftd.api.deps import ServicesDep, time_range
from driftd.api.errors import ErrorBody
from driftd.events import MODEL_NAME_PATTERN
from driftd.report import gather, render

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["models"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "the report, one HTML page"},
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


@router.get("/{model}/report", response_class=HTMLResponse, responses=_RESPONSES)
async def report(
    model: Annotated[str, Path(pattern=MODEL_NAME_PATTERN)],
    services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", description="epoch ms or RFC 3339")] = None,
    to: Annotated[str | None, Query(description="epoch ms or RFC 3339")] = None,
) -> HTMLResponse:
    """Baseline vs current distributions, drift over time, data quality, alerts (default: 7 days).

    Self-contained: inline SVG and CSS, no script, nothing fetched; save it and
    open it offline. 404 when the model has no baseline.
    """
    from_ms, to_ms = time_range(from_, to)
    now_ms = int(time.time() * 1000)
    data = await asyncio.to_thread(
        gather, services.store, model, from_ms, to_ms, now_ms=now_ms, control=services.control
    )
    return HTMLResponse(render(data))
