"""API keys, scopes and rate limits: one dependency on the whole app, default-deny.

Routers are attached with :func:`include` and the scope their routes need
(``ingest``, ``read`` or ``admin``; ``writes`` for their non-GET routes). A route
attached any other way needs ``admin``: nothing is reachable with a lesser key
by accident. Paths in ``api.open_paths`` need no key.

A request carries ``Authorization: Bearer <key>``. The key's SHA-256 digest is
compared in constant time (:func:`hmac.compare_digest`) with every active key's
digest, each time all of them. A key restricted to some models gets 404
``model_not_found`` for any other model, as if it did not exist. Answers:
401 (no or unknown key, with ``WWW-Authenticate: Bearer``), 403 (scope), 429
``rate_limited`` with ``Retry-After`` (a token bucket per key, or per client
address when keys are off).

When keys are off (a loopback sidecar) every request passes as admin.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute

from driftd.errors import DriftdError
from driftd.storage.apikeys import ApiKey, ApiKeyStore, digest

__all__ = [
    "AUTHORIZE",
    "AuthError",
    "Authenticator",
    "Principal",
    "RateLimiter",
    "authorize",
    "include",
    "install_auth",
    "visible_models",
]

_SCOPES_KEY = "driftd_route_scopes"


class AuthError(DriftdError):
    """A request refused: ``status`` (401, 403, 404, 429) and a reason code."""

    def __init__(self, status: int, reason: str, detail: str, retry_after: int = 0) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a key, or ``None`` when keys are off."""

    key: ApiKey | None

    def sees(self, model: str) -> bool:
        return self.key is None or self.key.sees(model)


class Authenticator:
    """Finds the key behind a bearer token; keys are re-read every ``cache_s`` seconds."""

    def __init__(
        self,
        store: ApiKeyStore,
        *,
        cache_s: float = 5.0,
        extra: Sequence[ApiKey] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_s < 0:
            raise ValueError(f"cache_s must be >= 0, got {cache_s}")
        self.store = store
        self.cache_s = cache_s
        self.extra = tuple(extra)
        self.clock = clock
        self._keys: tuple[ApiKey, ...] = ()
        self._loaded = -math.inf
        self._lock = threading.Lock()

    def _active(self) -> tuple[ApiKey, ...]:
        with self._lock:
            now = self.clock()
            if now - self._loaded >= self.cache_s:
                self._keys = (*self.store.active(), *self.extra)
                self._loaded = now
            return self._keys

    def authenticate(self, token: str) -> ApiKey | None:
        """The key whose digest matches, compared in constant time with every key."""
        wanted = digest(token).encode()
        found = None
        for key in self._active():
            if hmac.compare_digest(wanted, key.digest.encode()):
                found = key
        return found


class RateLimiter:
    """A token bucket per caller: ``rate`` per second, up to ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when allowed; else the seconds until a request would be."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                if len(self._buckets) >= 100_000:
                    self._buckets.clear()
                self._buckets[who] = (tokens - 1, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate


def include(
    app: FastAPI, router: APIRouter, scope: str | None, *, writes: str | None = None
) -> None:
    """Attach ``router``; its routes need ``scope`` (``writes`` for non-GET; None: open)."""
    scopes: dict[int, str | None] = app.state._state.setdefault(_SCOPES_KEY, {})
    for route in router.routes:  # the objects a request's scope["route"] names
        if isinstance(route, APIRoute):
            reading = (route.methods or set()) <= {"GET", "HEAD", "OPTIONS"}
            scopes[id(route)] = scope if reading or writes is None else writes
    app.include_router(router, responses=_REFUSALS if scope is not None else None)


_ERROR_BODY = {"$ref": "#/components/schemas/Problem"}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"description": what, "content": {"application/problem+json": {"schema": _ERROR_BODY}}}
    for status, what in (
        (401, "no API key, or an unknown or revoked one (when keys are required)"),
        (403, "the API key lacks the scope"),
        (429, "rate limited; Retry-After says when to come back"),
    )
}


def _route_scope(request: Request) -> str | None:
    route = request.scope.get("route")
    scopes: dict[int, str | None] = request.app.state._state.get(_SCOPES_KEY, {})
    return scopes.get(id(route), "admin")  # default-deny: an unlisted route needs admin


def authorize(request: Request) -> Principal:
    """The app-wide dependency: authenticate, check the scope and the model, rate-limit."""
    state = request.app.state
    auth: Authenticator | None = getattr(state, "authenticator", None)
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    open_paths: frozenset[str] = getattr(state, "open_paths", frozenset())
    if request.url.path in open_paths:
        return Principal(None)
    scope = _route_scope(request)
    key: ApiKey | None = None
    if auth is not None:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError(401, "unauthorized", "send Authorization: Bearer <API key>")
        key = auth.authenticate(token.strip())
        if key is None:
            raise AuthError(401, "unauthorized", "unknown or revoked API key")
    if limiter is not None:
        who = key.key_id if key is not None else (request.client.host if request.client else "-")
        wait = limiter.take(who)
        if wait > 0:
            raise AuthError(429, "rate_limited", "too many requests", math.ceil(wait))
    if key is not None and scope is not None and not key.allows(scope):
        raise AuthError(403, "forbidden", f"this API key lacks the {scope!r} scope")
    principal = Principal(key)
    model = request.path_params.get("model")
    if isinstance(model, str) and not principal.sees(model):
        raise AuthError(404, "model_not_found", "no such model")
    request.state.principal = principal
    return principal


AUTHORIZE = Depends(authorize)
"""The app-wide dependency, for ``FastAPI(dependencies=[AUTHORIZE])``."""


def visible_models(request: Request, models: Sequence[str]) -> list[str]:
    """Those of ``models`` the request's key may see."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return [m for m in models if principal is None or principal.sees(m)]


def install_auth(
    app: FastAPI,
    authenticator: Authenticator | None,
    *,
    open_paths: Sequence[str] = (),
    rate_limiter: RateLimiter | None = None,
) -> None:
    """Set what :func:`authorize` uses and answer its refusals as problem details.

    The app must have been built with ``dependencies=[AUTHORIZE]``, so that every
    route, whoever adds it later, passes through :func:`authorize`.
    """
    from driftd.api.errors import problem

    app.state.authenticator = authenticator
    app.state.rate_limiter = rate_limiter
    app.state.open_paths = frozenset(open_paths)

    @app.exception_handler(AuthError)
    async def _refused(request: Request, exc: AuthError) -> Any:
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        answer = problem(request, exc.status, exc.reason, exc.detail)
        answer.headers.update(headers)
        return answer
