"""The FastAPI app factory: one router per resource, services passed in."""

from __future__ import annotations

from fastapi import FastAPI

from driftd import __version__
from driftd.api import alerts, deadletters, events, health, kserve, models, performance, report
from driftd.api.errors import install_error_handlers
from driftd.services import Services

__all__ = ["create_app"]


def create_app(services: Services, *, health_only: bool = False) -> FastAPI:
    """Build the HTTP API around already-built services (the daemon owns their lifecycle).

    ``health_only`` serves just ``/healthz``, ``/readyz`` and ``/metrics`` (the
    collector role: probes and Prometheus, no ingest or queries).
    """
    app = FastAPI(
        title="driftd",
        version=__version__,
        summary="Model monitoring and drift detection: ingest, baselines, drift series.",
        generate_unique_id_function=lambda route: route.name,  # stable operationIds
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    if not health_only:
        app.include_router(events.router)
        app.include_router(kserve.router)
        app.include_router(models.router)
        app.include_router(report.router)
        app.include_router(performance.router)
        app.include_router(deadletters.router)
        app.include_router(alerts.router)
        app.include_router(alerts.silences_router)
        app.include_router(alerts.deliveries_router)
    return app
