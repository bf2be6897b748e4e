"""Models, their baselines, and their drift series."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from driftd.api.auth import visible_models
from driftd.api.deps import ServicesDep, time_range
from driftd.api.errors import ErrorBody
from driftd.api.paging import CURSOR_DESCRIPTION, decode_cursor, next_page
from driftd.baselines import BaselineSummary, save_baseline, summarise
from driftd.detectors import BaselineProfile
from driftd.errors import BaselineError, EventError
from driftd.events import MODEL_NAME_PATTERN
from driftd.monitoring.results import Severity, severity_rank
from driftd.storage.records import DriftMetric

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["models"])

DEFAULT_DRIFT_POINTS = 10_000
MAX_DRIFT_POINTS = 100_000

ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route can give (422, a bad parameter, is documented for all)."""
    return {status: {"model": ErrorBody} for status in (*statuses, 503)}


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
    segment: str
    feature: str
    metric: str
    value: float
    p_value: float | None
    effect_size: float | None
    severity: Severity
    n: int


class FeatureStatus(BaseModel):
    """A feature's current worst severity: the worst metric of its newest window."""

    feature: str
    severity: Severity
    metric: str
    value: float
    baseline_version: str
    window_id: int
    time: int


class DriftSummary(BaseModel):
    """Each feature's current worst severity, and the model's."""

    model: str
    severity: Severity
    features: list[FeatureStatus]


def _point(r: DriftMetric) -> DriftPoint:
    return DriftPoint(
        time=r.window_end_ms,
        window_start=r.window_start_ms,
        window_id=r.window_id,
        model=r.model,
        baseline_version=r.baseline_version,
        segment=r.segment,
        feature=r.feature,
        metric=r.metric,
        value=r.value,
        p_value=r.p_value,
        effect_size=r.effect_size,
        severity=r.severity,
        n=r.n,
    )


@router.get("", response_model=list[ModelInfo], responses=_errors())
async def list_models(request: Request, services: ServicesDep) -> list[ModelInfo]:
    """Models that have a baseline or events (those the API key may see)."""
    names = await asyncio.to_thread(services.store.list_models)
    return [ModelInfo(name=n) for n in visible_models(request, names)]


@router.get("/{model}/baselines", response_model=list[BaselineSummary], responses=_errors())
async def list_baselines(model: ModelName, services: ServicesDep) -> list[BaselineSummary]:
    """The model's baselines, newest first."""
    stored = await asyncio.to_thread(services.store.list_baselines, model)
    return [summarise(b) for b in stored]


class BaselineDetail(BaseModel):
    """A stored baseline with its full profile (bins, proportions, reference sample)."""

    summary: BaselineSummary
    profile: dict[str, Any]


@router.get("/{model}/baselines/{version}", response_model=BaselineDetail, responses=_errors(404))
async def get_baseline(model: ModelName, version: str, services: ServicesDep) -> BaselineDetail:
    """One baseline of the model, with its profile."""
    stored = await asyncio.to_thread(services.store.get_baseline, model, version)
    return BaselineDetail(summary=summarise(stored), profile=json.loads(stored.profile_json))


@router.post(
    "/{model}/baselines",
    response_model=BaselineSummary,
    status_code=201,
    responses={
        **_errors(400, 409),
        200: {"model": BaselineSummary, "description": "already stored"},
    },
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


@router.get("/{model}/drift", response_model=list[DriftPoint], responses=_errors(400))
async def drift(
    request: Request,
    response: Response,
    model: ModelName,
    services: ServicesDep,
    from_: Annotated[str | None, Query(alias="from", description="epoch ms or RFC 3339")] = None,
    to: Annotated[str | None, Query(description="epoch ms or RFC 3339")] = None,
    feature: str | None = None,
    metric: str | None = None,
    severity: Severity | None = None,
    baseline_version: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DRIFT_POINTS)] = DEFAULT_DRIFT_POINTS,
    cursor: Annotated[str | None, Query(description=CURSOR_DESCRIPTION)] = None,
) -> list[DriftPoint]:
    """Drift per closed window, flat, with ``time`` = window end (what Grafana Infinity reads).

    Defaults to the last 7 days; ``limit`` keeps the newest points (returned
    oldest first). Filters match exactly. More than ``limit`` points: the
    ``Link`` header (``rel="next"``) is the page of older points.
    """
    from_ms, to_ms = time_range(from_, to)
    if cursor is not None:
        to_ms = decode_cursor(cursor)
    if from_ms > to_ms:
        raise EventError("invalid_time", "'from' is after 'to'")
    rows = await asyncio.to_thread(
        lambda: services.store.query_drift(
            model,
            from_ms,
            to_ms,
            feature,
            metric,
            severity=severity,
            baseline_version=baseline_version,
            limit=limit + 1,
        )
    )
    return [_point(r) for r in next_page(rows, limit, lambda r: r.window_end_ms, request, response)]


@router.get("/{model}/drift/summary", response_model=DriftSummary, responses=_errors())
async def drift_summary(model: ModelName, services: ServicesDep) -> DriftSummary:
    """Each feature's current worst severity (over the metrics of its newest window).

    The newest window of the model's most recently judged baseline version
    counts; model-wide metrics (latency) appear under feature ``""``.
    """
    rows = await asyncio.to_thread(services.store.latest_drift, model)
    if rows:
        newest = max(rows, key=lambda r: r.window_end_ms).baseline_version
        rows = [r for r in rows if r.baseline_version == newest and r.segment == ""]
    worst: dict[str, DriftMetric] = {}
    for r in rows:
        seen = worst.get(r.feature)
        if seen is None or severity_rank(r.severity) > severity_rank(seen.severity):
            worst[r.feature] = r
    features = [
        FeatureStatus(
            feature=r.feature,
            severity=r.severity,
            metric=r.metric,
            value=r.value,
            baseline_version=r.baseline_version,
            window_id=r.window_id,
            time=r.window_end_ms,
        )
        for r in sorted(worst.values(), key=lambda r: r.feature)
    ]
    overall = max((f.severity for f in features), key=severity_rank, default="ok")
    return DriftSummary(model=model, severity=overall, features=features)
