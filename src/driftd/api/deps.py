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


_MAX_EPOCH_DIGITS = 15  # epoch ms before the year 33,658


def parse_time(value: str | None, default: int, name: str) -> int:
    """A query time (epoch ms or RFC 3339), or ``default`` when absent.

    Anything else is a 400 naming the parameter, never a 500 (``²`` is a digit
    to ``str.isdigit`` but not to ``int``; a 5,000-digit number is beyond
    ``int``'s limit on parsing):

    >>> parse_time("1700000000000", 0, "from")
    1700000000000
    >>> parse_time("\u00b2", 0, "from")
    Traceback (most recent call last):
    ...
    driftd.errors.EventError: invalid_time: 'from' is not RFC 3339
    >>> parse_time("1796000000", 0, "from")
    Traceback (most recent call last):
    ...
    driftd.errors.EventError: invalid_time: 'from' is epoch milliseconds; 1796000000 looks \
like epoch seconds (as ms it is before 1973-03-03): send 1796000000000 or RFC 3339
    """
    if value is None or value == "":
        return default
    try:
        if value.isascii() and value.isdigit():
            if len(value) > _MAX_EPOCH_DIGITS:
                raise EventError("invalid_time", f"'{name}' is out of range")
            return parse_timestamp_ms(int(value), name)
        if len(value) > 64 or not value.isascii():
            raise EventError("invalid_time", f"'{name}' is not RFC 3339")
        return parse_timestamp_ms(value, name)
    except EventError as exc:
        raise EventError("invalid_time", exc.detail) from exc
    except (ValueError, OverflowError) as exc:
        raise EventError("invalid_time", f"'{name}' must be epoch ms or RFC 3339") from exc


def time_range(from_: str | None, to: str | None) -> tuple[int, int]:
    """Query ``from``/``to`` → epoch ms; ``to`` defaults to now, ``from`` to 7 days before."""
    to_ms = parse_time(to, int(time.time() * 1000) + 1, "to")
    from_ms = parse_time(from_, to_ms - DEFAULT_RANGE_MS, "from")
    if from_ms > to_ms:
        raise EventError("invalid_time", "'from' is after 'to'")
    return from_ms, to_ms
