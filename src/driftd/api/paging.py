"""Cursor paging for time-keyed lists (drift points, dead letters), back in time.

A list endpoint answers at most ``limit`` rows, the newest in its range. When
there are more, it answers a ``Link: <…>; rel="next"`` header (and
``X-Next-Cursor``): the same request with ``cursor`` set, which moves the
range's end back to where the page stopped. A page never splits the rows of
one time (a window's metrics, dead letters of one millisecond): those are
left whole for the next page, so none is lost or repeated; more than
``limit`` rows at one time cannot be paged and are a 400 asking for a larger
``limit``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import Request, Response

from driftd.errors import EventError

__all__ = ["decode_cursor", "encode_cursor", "next_page"]

T = TypeVar("T")

CURSOR_DESCRIPTION = "from the previous page's Link (rel=next) or X-Next-Cursor header"


def encode_cursor(to_ms: int) -> str:
    """An opaque cursor: the exclusive end, in epoch ms, of the next page.

    >>> decode_cursor(encode_cursor(1764500000000))
    1764500000000
    """
    return base64.urlsafe_b64encode(f"to:{to_ms}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The next page's end; a 400 (``invalid_cursor``) when the cursor was not ours.

    >>> decode_cursor("nonsense")
    Traceback (most recent call last):
    ...
    driftd.errors.EventError: invalid_cursor: 'cursor' is not one this API gave out
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, value = text.partition(":")
        if tag != "to" or not value.isdigit() or len(value) > 15:
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise EventError("invalid_cursor", "'cursor' is not one this API gave out") from None


def next_page(
    rows: Sequence[T], limit: int, time_of: Callable[[T], int], request: Request, response: Response
) -> list[T]:
    """The page to answer from ``rows`` fetched with ``limit + 1``; sets the next page's link.

    One row beyond ``limit`` tells that there is more, and where the page must
    end: rows of the page at that row's time are left for the next page.
    """
    if len(rows) <= limit:
        return list(rows)
    newest_first = sorted(rows, key=time_of, reverse=True)
    boundary = time_of(newest_first[limit])
    kept = {id(r) for r in newest_first[:limit] if time_of(r) > boundary}
    if not kept:
        raise EventError(
            "limit_too_small",
            f"more than {limit} rows share one time; raise 'limit' to page through them",
        )
    cursor = encode_cursor(boundary + 1)
    url = request.url.include_query_params(cursor=cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'
    response.headers["X-Next-Cursor"] = cursor
    return [r for r in rows if id(r) in kept]  # in the order the store gave
