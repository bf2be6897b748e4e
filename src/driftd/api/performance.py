"""Model performance per window, as outcomes join: a flat series Grafana reads."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from driftd.api.deps import ServicesDep, time_range
from driftd.api.errors import ErrorBody
from driftd.events import MODEL_NAME_PATTERN
from driftd.monitoring.perf_windows import OUTCOME_FEATURE
from driftd.monitoring.results import Severity

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["performance"])

ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN)]
ALL_SEGMENTS = "*"
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorBody}, 503: {"model": ErrorBody}}


class PerformancePoint(BaseModel):
    """One metric of one window (``time`` = the window's end, epoch ms).

    ``final`` is true once the join horizon has passed since the window
    ended: later labels no longer change it. ``n`` counts the labelled
    predictions (all predictions for ``labelled_fraction``); ``effect_size``
    is the difference from the baseline's validation metric, where it states one.
    """

    time: int
    window_start: int
    window_id: int
    model: str
    baseline_version: str
    segment: str
    metric: str
    value: float
    effect_size: float | None
    severity: Severity
    n: int
    final: bool


@router.get("/{model}/performance", response_model=list[PerformancePoint], responses=_ERRORS)
async def performance(
    model: ModelName,
    services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    segment: Annotated[str, Query(description="'key=value', '' (whole model) or '*'")] = "",
    metric: str | None = None,
) -> list[PerformancePoint]:
    """Performance per window by window end, oldest first; defaults to the last 7 days.

    A window counts when it ends at or after ``from`` and starts before ``to``:
    the current window, still open, is served too (its ``time`` is ahead).
    """
    from_ms, to_ms = time_range(from_, to)
    monitor = services.performance
    plan = monitor.plan if monitor is not None else None
    config = services.settings.performance
    horizon_ms = plan.horizon_ms if plan else int(config.horizon_days * 86_400_000)
    window_ms = plan.window_ms if plan else int(config.window_s * 1000)
    found = await asyncio.to_thread(
        services.store.query_drift, model, from_ms, to_ms + window_ms, OUTCOME_FEATURE, metric
    )
    rows = [r for r in found if r.window_start_ms < to_ms]
    now = int(time.time() * 1000)
    return [
        PerformancePoint(
            time=r.window_end_ms,
            window_start=r.window_start_ms,
            window_id=r.window_id,
            model=r.model,
            baseline_version=r.baseline_version,
            segment=r.segment,
            metric=r.metric,
            value=r.value,
            effect_size=r.effect_size,
            severity=r.severity,
            n=r.n,
            final=now >= r.window_end_ms + horizon_ms,
        )
        for r in rows
        if segment in (ALL_SEGMENTS, r.segment)
    ]
