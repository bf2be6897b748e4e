"""Models, their baselines, and their drift series."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from driftd.api.auth import visible_models
from driftd.api.deps import ServicesDep, time_range
from driftd.api.errors import ErrorBody
from driftd.baselines import BaselineSummary, save_baseline, summarise
from driftd.detectors import BaselineProfile
from driftd.errors import BaselineError, EventError
from driftd.events import MODEL_NAME_PATTERN

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["models"])

ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


class ModelInfo(BaseModel):
    name: str


class BaselineUpload(BaseModel):
    """A baseline profile, as ``driftd baseline create`` computes it."""

    profile: dict[str, Any]


class DriftPoint(BaseModel):
    """One metric of one feature for one closed window; ``time`` is the window's end (ms)."""

    time: int
    window_start: int
    window_id: int
    model: str
    baseline_version: str
    feature: str
    metric: str
    value: float
    n: int


@router.get("", response_model=list[ModelInfo])
async def list_models(request: Request, services: ServicesDep) -> list[ModelInfo]:
    """Models that have a baseline or events (those the API key may see)."""
    names = await asyncio.to_thread(services.store.list_models)
    return [ModelInfo(name=n) for n in visible_models(request, names)]


@router.get("/{model}/baselines", response_model=list[BaselineSummary], responses=_ERRORS)
async def list_baselines(model: ModelName, services: ServicesDep) -> list[BaselineSummary]:
    """The model's baselines, newest first."""
    stored = await asyncio.to_thread(services.store.list_baselines, model)
    return [summarise(b) for b in stored]


class BaselineDetail(BaseModel):
    """A stored baseline with its full profile (bins, proportions, reference sample)."""

    summary: BaselineSummary
    profile: dict[str, Any]


@router.get("/{model}/baselines/{version}", response_model=BaselineDetail, responses=_ERRORS)
async def get_baseline(model: ModelName, version: str, services: ServicesDep) -> BaselineDetail:
    """One baseline of the model, with its profile."""
    stored = await asyncio.to_thread(services.store.get_baseline, model, version)
    return BaselineDetail(summary=summarise(stored), profile=json.loads(stored.profile_json))


@router.post(
    "/{model}/baselines",
    response_model=BaselineSummary,
    status_code=201,
    responses={**_ERRORS, 200: {"model": BaselineSummary, "description": "already stored"}},
)
async def create_baseline(
    model: ModelName, upload: BaselineUpload, services: ServicesDep
) -> JSONResponse:
    """Store an immutable baseline; the same data again is a no-op (200), other data a 409."""
    try:
        profile = BaselineProfile.from_dict(upload.profile)
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"the profile is not valid: {exc}", model=model) from None
    if profile.model != model:
        raise BaselineError(f"the profile is for model {profile.model!r}, not {model!r}")
    created, summary = await asyncio.to_thread(
        save_baseline, services.store, services.control, profile, services.pipeline.scrubber
    )
    return JSONResponse(status_code=201 if created else 200, content=summary.model_dump())


@router.get("/{model}/drift", response_model=list[DriftPoint], responses=_ERRORS)
async def drift(
    model: ModelName,
    services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", description="epoch ms or RFC 3339")] = None,
    to: Annotated[str | None, Query(description="epoch ms or RFC 3339")] = None,
    feature: str | None = None,
    metric: str | None = None,
) -> list[DriftPoint]:
    """Drift per closed window, flat, with ``time`` = window end (what Grafana Infinity reads).

    Defaults to the last 7 days.
    """
    from_ms, to_ms = time_range(from_, to)
    if from_ms > to_ms:
        raise EventError("invalid_time", "'from' is after 'to'")
    rows = await asyncio.to_thread(
        services.store.query_drift, model, from_ms, to_ms, feature, metric
    )
    return [
        DriftPoint(
            time=r.window_end_ms,
            window_start=r.window_start_ms,
            window_id=r.window_id,
            model=r.model,
            baseline_version=r.baseline_version,
            feature=r.feature,
            metric=r.metric,
            value=r.value,
            n=r.n,
        )
        for r in rows
    ]
