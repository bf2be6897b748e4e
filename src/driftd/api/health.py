"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from driftd import __version__
from driftd.api.deps import ServicesDep
from driftd.errors import DriftdError, SourceError, StorageUnavailableError
from driftd.services import Services

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    service: str = "driftd"
    """Always ``driftd``: the command line checks it before going through a daemon."""
    version: str = __version__


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive and serving HTTP."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep) -> Response:
    """Ready when storage and Kafka (when enabled) answer, writes succeed, and work moves.

    Not ready (503), each reason named in ``checks``: a store does not answer
    within ``collector.ready_check_timeout_ms`` (``timeout``) or refuses
    (``unreachable``); storage writes are failing (``storage_writes``, and
    ``disk: full`` when the disk is full); the pipeline has held a batch, or an
    HTTP request has waited, for ``collector.stall_after_ms`` without progress
    (``pipeline``). ``/healthz`` stays a pure liveness probe.
    """
    settings = services.settings.collector
    checks = await _reachable(services, settings.ready_check_timeout_ms / 1000)
    stall_after_s = settings.stall_after_ms / 1000
    checks.update(services.pipeline.progress.problems(stall_after_s))
    waited = services.ingest.oldest_wait_s()
    if waited > stall_after_s and "pipeline" not in checks:
        checks["pipeline"] = f"stalled: an ingest request has waited {waited:.0f}s"
    for name in ("pipeline", "storage_writes"):
        checks.setdefault(name, "ok")
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())


async def _reachable(services: Services, timeout_s: float) -> dict[str, str]:
    """Ping each store (and Kafka) in its own thread; one that hangs is a ``timeout``."""

    def ping(fn: Callable[[], None]) -> str:
        try:
            fn()
        except StorageUnavailableError as exc:
            return "disk_full" if exc.condition == "disk_full" else "unreachable"
        except DriftdError:
            return "unreachable"
        return "ok"

    def kafka() -> None:
        if not services.kafka_ready():
            raise SourceError("Kafka unreachable")

    probes: dict[str, Callable[[], None]] = {
        "clickhouse": services.store.ping,
        "control": services.control.ping,
    }
    if services.settings.kafka.enabled:
        probes["kafka"] = kafka
    tasks = {name: asyncio.create_task(asyncio.to_thread(ping, fn)) for name, fn in probes.items()}
    done, _ = await asyncio.wait(tasks.values(), timeout=timeout_s)
    return {name: task.result() if task in done else "timeout" for name, task in tasks.items()}


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition of driftd's own registry."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
