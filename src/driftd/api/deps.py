"""What the routers share: the process's :class:`~driftd.services.Services`, time parameters."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from driftd.errors import EventError
from driftd.events import parse_timestamp_ms
from driftd.services import Services

__all__ = ["DEFAULT_RANGE_MS", "ServicesDep", "parse_time", "time_range"]

DEFAULT_RANGE_MS = 7 * 24 * 3600 * 1000
"""Time-series queries without ``from`` cover the last 7 days."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def parse_time(value: str | None, default: int, name: str) -> int:
    """A query time (epoch ms or RFC 3339), or ``default`` when absent."""
    if value is None or value == "":
        return default
    try:
        return parse_timestamp_ms(int(value) if value.isdigit() else value, name)
    except EventError as exc:
        raise EventError("invalid_time", f"'{name}' must be epoch ms or RFC 3339") from exc


def time_range(from_: str | None, to: str | None) -> tuple[int, int]:
    """Query ``from``/``to`` → epoch ms; ``to`` defaults to now, ``from`` to 7 days before."""
    to_ms = parse_time(to, int(time.time() * 1000) + 1, "to")
    return parse_time(from_, to_ms - DEFAULT_RANGE_MS, "from"), to_ms
