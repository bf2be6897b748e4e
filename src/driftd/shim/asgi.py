"""ASGI middleware for FastAPI/Starlette model servers.

It watches the predict routes (``paths``): it keeps the request body and the
response body as they pass, measures the time from request to the last
response byte, and queues one deferred item on the logger; the JSON bodies
are parsed on the logger's thread, not on the serving path. The request id
comes from ``x-request-id`` or ``ce-id`` (a KServe/CloudEvents caller), or is
made up; it is returned in the response's ``x-request-id`` header (so the
caller can log the outcome later), put in ``scope["state"]["request_id"]``
(Starlette's ``request.state.request_id``) and in
:data:`~driftd.shim.logger.current_request_id` while the route runs.

Only 2xx answers are logged. On lifespan shutdown the logger is closed
(flushed with its deadline) before the server is told shutdown is complete.

Default body shapes (override with ``features=`` / ``predictions=``):

* request ``{"instances": [...]}`` (KServe V1), each instance an object or a
  list (named by ``feature_names``, else ``f0``, ``f1``, ...);
  ``{"features": {...}}``; or a flat object of features;
* response ``{"predictions": [...]}``, ``{"prediction": x}`` or a bare value.

A request with several instances logs one event per instance, with request
ids ``<id>:0``, ``<id>:1``, ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

import orjson

from driftd.shim.logger import PredictionLogger, current_request_id
from driftd.shim.transports import EventKind

__all__ = ["PredictionMiddleware", "default_features", "default_predictions"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
FeaturesFrom = Callable[[Any], list[dict[str, Any]]]
PredictionsFrom = Callable[[Any], list[Any]]


def default_features(body: Any, feature_names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Feature dicts from a request body (see the module docstring).

    >>> default_features({"instances": [[1, 2], {"a": 3}]}, ["x", "y"])
    [{'x': 1, 'y': 2}, {'a': 3}]
    >>> default_features({"features": {"income": 1.0}})
    [{'income': 1.0}]
    """
    if isinstance(body, dict):
        if isinstance(body.get("instances"), list):
            rows = body["instances"]
        elif isinstance(body.get("features"), dict):
            rows = [body["features"]]
        else:
            rows = [body]
    elif isinstance(body, list):
        rows = body
    else:
        raise ValueError(f"cannot read features from a {type(body).__name__}")
    return [_row(row, feature_names) for row in rows]


def _row(row: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    if isinstance(row, list):
        return {(names[i] if i < len(names) else f"f{i}"): v for i, v in enumerate(row)}
    raise ValueError(f"an instance must be an object or a list, got {type(row).__name__}")


def default_predictions(body: Any) -> list[Any]:
    """Predictions from a response body.

    >>> default_predictions({"predictions": [1, 0]}), default_predictions({"prediction": 0.3})
    ([1, 0], [0.3])
    """
    if isinstance(body, dict):
        if isinstance(body.get("predictions"), list):
            return list(body["predictions"])
        if "prediction" in body:
            return [body["prediction"]]
    if isinstance(body, list):
        return body
    return [body]


class PredictionMiddleware:
    """``app.add_middleware(PredictionMiddleware, logger=log, paths=["/predict"])``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: PredictionLogger,
        paths: Iterable[str] = ("/predict",),
        feature_names: Sequence[str] = (),
        features: FeaturesFrom | None = None,
        predictions: PredictionsFrom | None = None,
        close_on_shutdown: bool = True,
    ) -> None:
        self.app = app
        self.logger = logger
        self.paths = frozenset(paths)
        if not self.paths:
            raise ValueError("paths must name at least one route")
        self.feature_names = tuple(feature_names)
        self.features: FeaturesFrom = features or (
            lambda body: default_features(body, self.feature_names)
        )
        self.predictions: PredictionsFrom = predictions or default_predictions
        self.close_on_shutdown = close_on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.close_on_shutdown:
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        await self._serve(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await asyncio.to_thread(self.logger.close)
            await send(message)

        return lifespan_send

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        arrived_ms = time.time_ns() // 1_000_000
        rid = _request_id(scope) or self.logger.new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        request_body: list[bytes] = []
        response_body: list[bytes] = []
        status = 0

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.append(message.get("body", b""))
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                response_body.append(message.get("body", b""))
                if not message.get("more_body", False) and 200 <= status < 300:
                    latency = (time.perf_counter() - start) * 1000
                    self.logger.log_deferred(
                        self._builder(
                            b"".join(request_body), b"".join(response_body), rid, latency,
                            arrived_ms,
                        )
                    )  # fmt: skip
            await send(message)

        token = current_request_id.set(rid)
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            current_request_id.reset(token)

    def _builder(
        self, request: bytes, response: bytes, rid: str, latency_ms: float, ts: int
    ) -> Callable[[], list[tuple[EventKind, dict[str, Any]]]]:
        log = self.logger

        def build() -> list[tuple[EventKind, dict[str, Any]]]:
            rows = self.features(orjson.loads(request))
            preds = self.predictions(orjson.loads(response))
            if len(rows) != len(preds):
                raise ValueError(f"{len(rows)} instances but {len(preds)} predictions")
            single = len(rows) == 1
            return [
                ("predictions",
                 log.prediction_event(row, pred, rid if single else f"{rid}:{i}", None,
                                      latency_ms, ts))
                for i, (row, pred) in enumerate(zip(rows, preds, strict=True))
            ]  # fmt: skip

        return build


def _request_id(scope: Scope) -> str | None:
    """``x-request-id`` first, then ``ce-id`` (a CloudEvents caller such as KServe)."""
    found: dict[bytes, bytes] = {}
    for key, value in scope.get("headers", ()):
        if key in (b"x-request-id", b"ce-id") and value:
            found.setdefault(key, value)
    value = found.get(b"x-request-id") or found.get(b"ce-id")
    return value.decode("latin-1")[:256] if value else None
