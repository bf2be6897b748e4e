"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from driftd.api.deps import ServicesDep
from driftd.errors import DriftdError

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive and serving HTTP."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep) -> Response:
    """Storage (ClickHouse and the control store) and Kafka (when enabled) are reachable."""

    def check() -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, ping in (("clickhouse", services.store.ping), ("control", services.control.ping)):
            try:
                ping()
                checks[name] = "ok"
            except DriftdError:
                checks[name] = "unreachable"
        if services.settings.kafka.enabled:
            checks["kafka"] = "ok" if services.kafka_ready() else "unreachable"
        return checks

    checks = await asyncio.to_thread(check)
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition of driftd's own registry."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
