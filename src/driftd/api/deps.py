"""Dependencies the routers share: the process's :class:`~driftd.services.Services`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from driftd.services import Services

__all__ = ["ServicesDep"]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
