"""Alerting resources: alerts (read), silences (create, list, expire), deliveries (list, redeliver).

Three routers, one per resource, kept together because they share the
alerting state and its response models.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from driftd.alerting.grouping import muted
from driftd.api.deps import ServicesDep, parse_time
from driftd.api.errors import ErrorBody, problem
from driftd.config.alerting import parse_duration_ms
from driftd.storage.alert_records import Matcher, OutboxRecord, SilenceRecord

__all__ = ["deliveries_router", "router", "silences_router"]

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
silences_router = APIRouter(prefix="/v1/silences", tags=["alerts"])
deliveries_router = APIRouter(prefix="/v1/webhooks/deliveries", tags=["alerts"])


def _not_found(request: Request, what: str) -> JSONResponse:
    return problem(request, 404, "not_found", what)


class AlertOut(BaseModel):
    """An alert: its labels, where it is in its lifecycle, and when it was last notified."""

    fingerprint: str
    state: Literal["pending", "firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    since: int = Field(description="epoch ms: when the condition started to hold")
    fired_at: int | None
    resolved_at: int | None
    last_notified: int | None
    muted: bool = Field(description="silenced, or a warning inhibited by a critical alert")
    window: dict[str, object]


@router.get("", response_model=list[AlertOut])
async def list_alerts(
    services: ServicesDep,
    state: Literal["pending", "firing", "resolved"] | None = None,
    model: str | None = None,
) -> list[AlertOut]:
    """Alerts, oldest first; resolved ones stay listed until they fire again."""
    control = services.control
    alerts = await asyncio.to_thread(control.list_alerts, None if state is None else [state])
    silences = await asyncio.to_thread(control.list_silences)
    everything = alerts if state is None else await asyncio.to_thread(control.list_alerts)
    silent = muted(everything, silences, services.alerting.clock())
    return [
        AlertOut(
            fingerprint=a.fingerprint,
            state=a.state,
            labels=a.labels,
            annotations=a.annotations,
            value=a.value,
            since=a.active_ms,
            fired_at=a.fired_ms,
            resolved_at=a.resolved_ms,
            last_notified=a.last_notified_ms,
            muted=a.fingerprint in silent,
            window=a.detail,
        )
        for a in alerts
        if model is None or a.labels.get("model") == model
    ]


class MatcherIn(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str
    is_regex: bool = False
    is_equal: bool = True


class SilenceIn(BaseModel):
    """A silence: every matcher must match; it ends at ``ends_at`` or after ``duration``."""

    matchers: list[MatcherIn] = Field(min_length=1)
    starts_at: str | None = Field(default=None, description="epoch ms or RFC 3339; default now")
    ends_at: str | None = Field(default=None, description="epoch ms or RFC 3339")
    duration: str | None = Field(default=None, description="e.g. 2h, instead of ends_at")
    created_by: str = Field(min_length=1, max_length=256)
    comment: str = Field(default="", max_length=4096)


class SilenceOut(BaseModel):
    id: str
    matchers: list[MatcherIn]
    starts_at: int
    ends_at: int
    created_by: str
    comment: str
    state: Literal["pending", "active", "expired"]


def _silence_out(s: SilenceRecord, now: int) -> SilenceOut:
    state: Literal["pending", "active", "expired"] = (
        "active" if s.active(now) else "pending" if now < s.starts_ms else "expired"
    )
    return SilenceOut(
        id=s.id,
        matchers=[_matcher_in(m) for m in s.matchers],
        starts_at=s.starts_ms,
        ends_at=s.ends_ms,
        created_by=s.created_by,
        comment=s.comment,
        state=state,
    )


def _matcher_in(m: Matcher) -> MatcherIn:
    return MatcherIn(name=m.name, value=m.value, is_regex=m.is_regex, is_equal=m.is_equal)


def _bad(request: Request, detail: str) -> JSONResponse:
    return problem(request, 400, "invalid_silence", detail)


@silences_router.get("", response_model=list[SilenceOut])
async def list_silences(services: ServicesDep) -> list[SilenceOut]:
    now = services.alerting.clock()
    return [_silence_out(s, now) for s in await asyncio.to_thread(services.control.list_silences)]


@silences_router.post(
    "", status_code=201, response_model=SilenceOut, responses={400: {"model": ErrorBody}}
)
async def create_silence(
    request: Request, body: SilenceIn, services: ServicesDep
) -> SilenceOut | JSONResponse:
    """Mute the alerts whose labels match every matcher, from ``starts_at`` until it ends."""
    now = services.alerting.clock()
    for m in body.matchers:
        if m.is_regex:
            try:
                re.compile(m.value)
            except re.error as exc:
                return _bad(request, f"matcher {m.name}: not a regular expression ({exc})")
    starts = parse_time(body.starts_at, now, "starts_at")
    if (body.ends_at is None) == (body.duration is None):
        return _bad(request, "give exactly one of ends_at and duration")
    try:
        ends = (
            parse_time(body.ends_at, 0, "ends_at")
            if body.ends_at is not None
            else starts + parse_duration_ms(body.duration)
        )
    except ValueError as exc:
        return _bad(request, f"duration: {exc}")
    if ends <= max(starts, now):
        return _bad(request, "the silence must end in the future and after it starts")
    silence = SilenceRecord(
        id=uuid.uuid4().hex,
        matchers=[_to_matcher(m) for m in body.matchers],
        starts_ms=starts,
        ends_ms=ends,
        created_by=body.created_by,
        comment=body.comment,
        created_ms=now,
    )
    await asyncio.to_thread(services.control.put_silence, silence)
    return _silence_out(silence, now)


def _to_matcher(m: MatcherIn) -> Matcher:
    return Matcher(m.name, m.value, m.is_regex, m.is_equal)


@silences_router.delete("/{silence_id}", status_code=204, responses={404: {"model": ErrorBody}})
async def expire_silence(request: Request, silence_id: str, services: ServicesDep) -> Response:
    """Expire a silence now (it stays listed, as expired)."""
    now = services.alerting.clock()
    if not await asyncio.to_thread(services.control.expire_silence, silence_id, now):
        return _not_found(request, f"no active or pending silence {silence_id!r}")
    return Response(status_code=204)


class AttemptOut(BaseModel):
    attempt: int
    at: int
    ok: bool
    status: int | None
    error: str


class DeliveryOut(BaseModel):
    """A queued notification or webhook call: attempts, status and the next retry."""

    id: str = Field(description="also the webhook-id header of a webhook")
    kind: Literal["notification", "webhook"]
    target: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: int
    next_attempt_at: int | None
    last_status: int | None
    last_error: str
    delivered_at: int | None
    history: list[AttemptOut] | None = None


def _delivery_out(o: OutboxRecord) -> DeliveryOut:
    return DeliveryOut(
        id=o.id,
        kind=o.kind,
        target=o.target,
        state=o.state,
        attempts=o.attempts,
        created_at=o.created_ms,
        next_attempt_at=o.next_attempt_ms if o.state == "pending" else None,
        last_status=o.last_status,
        last_error=o.last_error,
        delivered_at=o.delivered_ms,
    )


@deliveries_router.get("", response_model=list[DeliveryOut])
async def list_deliveries(
    services: ServicesDep,
    kind: Literal["notification", "webhook"] | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[DeliveryOut]:
    """Webhook calls and notifications, newest first."""
    items = await asyncio.to_thread(services.control.list_outbox, kind, limit)
    return [_delivery_out(o) for o in items]


@deliveries_router.get(
    "/{delivery_id}", response_model=DeliveryOut, responses={404: {"model": ErrorBody}}
)
async def get_delivery(
    request: Request, delivery_id: str, services: ServicesDep
) -> DeliveryOut | JSONResponse:
    """One delivery with every attempt."""
    control = services.control
    found = await asyncio.to_thread(control.list_outbox, None, 1, delivery_id)
    if not found:
        return _not_found(request, f"no delivery {delivery_id!r}")
    out = _delivery_out(found[0])
    out.history = [
        AttemptOut(attempt=a.attempt, at=a.at_ms, ok=a.ok, status=a.status, error=a.error)
        for a in await asyncio.to_thread(control.list_attempts, delivery_id)
    ]
    return out


@deliveries_router.post(
    "/{delivery_id}/redeliver", status_code=202, responses={404: {"model": ErrorBody}}
)
async def redeliver(request: Request, delivery_id: str, services: ServicesDep) -> Response:
    """Send a delivery again now (same id, so receivers can tell it is the same message)."""
    now = services.alerting.clock()
    if not await asyncio.to_thread(services.control.redeliver, delivery_id, now):
        return _not_found(request, f"no delivery {delivery_id!r}")
    return Response(status_code=202)
