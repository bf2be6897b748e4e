"""The FastAPI app factory: one router per resource, services passed in."""

from __future__ import annotations

from fastapi import FastAPI

from driftd import __version__
from driftd.api import alerts, deadletters, events, health, kserve, models, performance, report
from driftd.api.auth import AUTHORIZE, Authenticator, RateLimiter, include, install_auth
from driftd.api.errors import install_error_handlers
from driftd.services import Services

__all__ = ["create_app"]


def create_app(services: Services, *, health_only: bool = False) -> FastAPI:
    """Build the HTTP API around already-built services (the daemon owns their lifecycle).

    ``health_only`` serves just ``/healthz``, ``/readyz`` and ``/metrics`` (the
    collector role: probes and Prometheus, no ingest or queries).

    Every route passes through :func:`~driftd.api.auth.authorize`; a router is
    attached with :func:`~driftd.api.auth.include` and the scope it needs, and
    one attached otherwise needs ``admin``.
    """
    app = FastAPI(
        title="driftd",
        version=__version__,
        summary="Model monitoring and drift detection: ingest, baselines, drift series.",
        generate_unique_id_function=lambda route: route.name,  # stable operationIds
        dependencies=[AUTHORIZE],
    )
    app.state.services = services
    api = services.settings.api
    install_error_handlers(app)
    install_auth(
        app,
        Authenticator(services.api_keys, cache_s=api.key_cache_s, extra=services.static_keys)
        if api.keys_required
        else None,
        open_paths=api.open_paths,
        rate_limiter=RateLimiter(api.rate_limit_per_s, api.rate_burst)
        if api.rate_limit_per_s > 0
        else None,
    )
    include(app, health.router, None)
    if not health_only:
        include(app, events.router, "ingest")
        include(app, kserve.router, "ingest")
        include(app, models.router, "read", writes="admin")
        include(app, deadletters.router, "admin")
        include(app, report.router, "read")
        include(app, performance.router, "read")
        include(app, alerts.router, "read")
        include(app, alerts.silences_router, "read", writes="admin")
        include(app, alerts.deliveries_router, "read", writes="admin")
    return app
