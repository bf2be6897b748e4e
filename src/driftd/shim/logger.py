"""The prediction logger: a bounded queue in front of a transport, drained in the background.

A call on the serving path appends a tuple to a bounded deque and returns;
one daemon thread turns queued items into events (timestamp, event id,
scrubbing, JSON), hands batches to the transport and retries an outage with
exponential backoff. While the target is away the queue fills, and a full
queue drops (the oldest or the newest item, ``drop=``) and counts the drop;
nothing is raised into the caller, nothing blocks it. When the target comes
back the held batch goes out and logging goes on, without a restart.

>>> from driftd.shim.transports import MemoryTransport
>>> memory = MemoryTransport()
>>> log = PredictionLogger("credit-risk", "v1", transport=memory, register_atexit=False)
>>> rid = log.log_prediction({"income": 52000.0, "country": "DE"}, 0.93, request_id="r-42")
>>> log.log_outcome(rid, 1)
>>> log.close()
>>> [(kind, e["request_id"]) for kind, e in memory.events]
[('predictions', 'r-42'), ('outcomes', 'r-42')]
>>> log.stats.delivered, log.stats.dropped
(2, 0)
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import inspect
import itertools
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar, cast

import orjson

from driftd.shim.scrub import FieldScrubber
from driftd.shim.transports import DeliveryError, EventKind, Record, Transport

__all__ = ["PredictionLogger", "ShimStats", "current_request_id"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: The request id of the request being served (set by the ASGI middleware).
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "driftd_request_id", default=None
)

#: Encoding yields the GIL after this long, so a batch being encoded never holds a
#: request up for a whole switch interval (5 ms). (A yield costs a syscall and,
#: on a busy machine, the rest of a time slice: not after every few events.)
_SLICE_S = 0.001
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
#: Builds events later, on the background thread (the middleware parses bodies there).
Deferred = Callable[[], Iterable[tuple[EventKind, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class ShimStats:
    """Counters since start. ``dropped`` = queue full + given up at shutdown."""

    queued: int
    delivered: int
    dropped_queue_full: int
    dropped_at_shutdown: int
    rejected: int
    invalid: int
    failed_attempts: int
    queue_depth: int

    @property
    def dropped(self) -> int:
        return self.dropped_queue_full + self.dropped_at_shutdown


class PredictionLogger:
    """Logs predictions and outcomes of one model without slowing or breaking serving.

    ``queue_size`` bounds memory; ``drop`` says which item a full queue gives
    up (``"oldest"`` keeps the freshest traffic, ``"newest"`` keeps what is
    already queued); ``batch_size`` and ``flush_interval_s`` shape the batches;
    retries back off from ``retry_initial_s`` to ``retry_max_s``; ``close()``
    flushes for at most ``close_timeout_s``. ``scrubber`` runs on features and
    segments before anything is serialised.
    """

    def __init__(
        self,
        model: str,
        version: str = "",
        transport: Transport | None = None,
        *,
        queue_size: int = 10_000,
        drop: Literal["oldest", "newest"] = "oldest",
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 10.0,
        close_timeout_s: float = 5.0,
        scrubber: FieldScrubber | None = None,
        register_atexit: bool = True,
    ) -> None:
        if not model:
            raise ValueError("model must not be empty")
        if transport is None:
            raise ValueError("transport is required (HttpTransport, KafkaTransport, ...)")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if drop not in ("oldest", "newest"):
            raise ValueError(f"drop must be 'oldest' or 'newest', got {drop!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for name, value in (
            ("flush_interval_s", flush_interval_s),
            ("retry_initial_s", retry_initial_s),
            ("close_timeout_s", close_timeout_s),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if retry_max_s < retry_initial_s:
            raise ValueError(f"retry_max_s must be >= retry_initial_s, got {retry_max_s}")
        self.model = model
        self.version = version
        self.transport = transport
        self.queue_size = queue_size
        self.drop = drop
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.close_timeout_s = close_timeout_s
        self.scrubber = scrubber
        self._reset()
        self._thread = threading.Thread(target=self._run, name="driftd-shim", daemon=True)
        self._thread.start()
        if register_atexit:
            atexit.register(self.close)

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._deadline = float("inf")
        self._prefix = secrets.token_hex(6)
        self._ids = itertools.count()
        self._event_ids = itertools.count()
        self._closed = False
        self._queued = self._delivered = self._dropped_full = self._dropped_shutdown = 0
        self._rejected = self._invalid = self._failed_attempts = 0

    # ------------------------------------------------------------ serving path

    def new_request_id(self) -> str:
        """A request id unique across processes (random prefix + counter)."""
        return f"{self._prefix}-{next(self._ids):x}"

    def log_prediction(
        self,
        features: Mapping[str, Any],
        prediction: Any,
        *,
        request_id: str | None = None,
        segments: Mapping[str, Any] | None = None,
        latency_ms: float | None = None,
        timestamp_ms: int | None = None,
    ) -> str:
        """Queue one prediction; return its request id (given, or made up)."""
        rid = request_id or current_request_id.get() or self.new_request_id()
        ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
        self._put(
            (
                "p",
                dict(features),
                prediction,
                rid,
                dict(segments) if segments else None,
                latency_ms,
                ts,
            )
        )
        return rid

    def log_outcome(
        self, request_id: str, outcome: Any, *, timestamp_ms: int | None = None
    ) -> None:
        """Queue the ground truth of an earlier prediction, joined by ``request_id``."""
        ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
        self._put(("o", request_id, outcome, ts))

    def log_deferred(self, build: Deferred) -> None:
        """Queue a callable that builds events on the background thread."""
        self._put(("d", build))

    def _put(self, item: tuple[Any, ...]) -> None:
        if self._closed:
            self._dropped_shutdown += 1
            return
        with self._lock:
            if len(self._queue) >= self.queue_size:
                self._dropped_full += 1
                if self.drop == "newest":
                    return
                self._queue.popleft()
            self._queue.append(item)
            self._queued += 1
            full_batch = len(self._queue) >= self.batch_size
        if full_batch and not self._wake.is_set():
            self._wake.set()

    def watch(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``predict(features, ...)``: log its first argument and its result.

        Works on plain and ``async`` functions; measures latency; uses the
        middleware's request id when there is one. The result is returned
        untouched, and a failing call is not logged.
        """
        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                result = await async_func(*args, **kwargs)
                self._log_call(args, kwargs, result, start)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = time.perf_counter()
            result = func(*args, **kwargs)
            self._log_call(args, kwargs, result, start)
            return result

        return wrapper

    def _log_call(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any, start: float
    ) -> None:
        latency = (time.perf_counter() - start) * 1000
        features = args[0] if args else kwargs.get("features")
        if isinstance(features, Mapping):
            self.log_prediction(features, result, latency_ms=latency)
        else:
            self._invalid += 1

    # ------------------------------------------------------------ lifecycle

    @property
    def stats(self) -> ShimStats:
        return ShimStats(
            queued=self._queued,
            delivered=self._delivered,
            dropped_queue_full=self._dropped_full,
            dropped_at_shutdown=self._dropped_shutdown,
            rejected=self._rejected,
            invalid=self._invalid,
            failed_attempts=self._failed_attempts,
            queue_depth=len(self._queue),
        )

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far was handed over; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._idle.clear()
            self._wake.set()
            if self._idle.wait(min(0.05, max(deadline - time.monotonic(), 0.0))) and (
                not self._queue
            ):
                return True
        return False

    def close(self, timeout_s: float | None = None) -> None:
        """Stop taking events, flush for at most ``timeout_s``, close the transport.

        Safe to call from a SIGTERM handler's flow, twice, or from atexit.
        """
        if self._closed:
            return
        self._closed = True
        wait = self.close_timeout_s if timeout_s is None else timeout_s
        self._deadline = time.monotonic() + wait
        self._stopping.set()
        self._wake.set()
        self._thread.join(wait + 1.0)
        try:
            self.transport.close()
        except Exception:
            logger.exception("closing the shim's transport failed")
        atexit.unregister(self.close)

    # ------------------------------------------------------------ background

    def _take(self) -> list[Any]:
        with self._lock:
            n = min(len(self._queue), self.batch_size)
            return [self._queue.popleft() for _ in range(n)]

    def _encode(self, items: list[Any]) -> list[Record]:
        records: list[Record] = []
        slice_end = time.perf_counter() + _SLICE_S
        for item in items:
            if time.perf_counter() > slice_end:
                time.sleep(0)  # let the serving threads have the GIL between slices
                slice_end = time.perf_counter() + _SLICE_S
            try:
                for kind, event in self._events(item):
                    event["event_id"] = f"{self._prefix}.{next(self._event_ids):x}"
                    records.append(
                        Record(kind, self.model, orjson.dumps(event, option=_JSON_OPTIONS))
                    )
            except Exception as exc:  # an unserialisable value, a body that is not JSON
                self._invalid += 1
                logger.debug("shim event skipped: %s", exc)
        return records

    def _events(self, item: tuple[Any, ...]) -> Iterable[tuple[EventKind, dict[str, Any]]]:
        tag = item[0]
        if tag == "p":
            _, features, prediction, rid, segments, latency, ts = item
            return [("predictions", self.prediction_event(
                features, prediction, rid, segments, latency, ts))]  # fmt: skip
        if tag == "o":
            _, rid, outcome, ts = item
            return [("outcomes", {"model": self.model, "request_id": rid,
                                  "outcome": _plain(outcome), "timestamp": ts})]  # fmt: skip
        return cast(Deferred, item[1])()

    def prediction_event(
        self,
        features: dict[str, Any],
        prediction: Any,
        request_id: str,
        segments: dict[str, Any] | None,
        latency_ms: float | None,
        timestamp_ms: int,
    ) -> dict[str, Any]:
        """The event driftd's contract expects (scrubbed when a scrubber is set)."""
        if self.scrubber is not None:
            features = self.scrubber.scrub_features(features)
            if segments:
                segments = self.scrubber.scrub_features(segments)
        event: dict[str, Any] = {
            "model": self.model,
            "timestamp": timestamp_ms,
            "request_id": request_id,
            "features": features,
            "prediction": _plain(prediction),
        }
        if self.version:
            event["model_version"] = self.version
        if segments:
            event["segments"] = segments
        if latency_ms is not None:
            event["latency_ms"] = latency_ms
        return event

    def _run(self) -> None:
        pending: list[Record] = []
        backoff = self.retry_initial_s
        outage = False
        while True:
            stopping = self._stopping.is_set()
            if stopping and time.monotonic() >= self._deadline:
                break
            if not pending:
                items = self._take()
                if not items:
                    if stopping:
                        break
                    self._idle.set()
                    self._wake.wait(self.flush_interval_s)
                    self._wake.clear()
                    continue
                pending = self._encode(items)
                if not pending:
                    continue
            pending, ok = self._send(pending)
            if ok:
                if outage:
                    logger.info("driftd shim: delivery of %s events resumed", self.model)
                outage = False
                backoff = self.retry_initial_s
                continue
            if not outage:  # once per outage, not per attempt
                outage = True
                logger.warning(
                    "driftd shim: cannot deliver %s events; retrying with backoff, a full "
                    "queue drops (see stats)", self.model,
                )  # fmt: skip
            self._failed_attempts += 1
            if stopping:  # close() is waiting: retry until its deadline
                time.sleep(max(min(backoff, self._deadline - time.monotonic()), 0.0))
            else:  # wakes at once when close() is called
                self._stopping.wait(backoff)
            backoff = min(backoff * 2, self.retry_max_s)
        with self._lock:
            left = len(self._queue)
            self._queue.clear()
        self._dropped_shutdown += left + len(pending)
        self._idle.set()

    def _send(self, records: list[Record]) -> tuple[list[Record], bool]:
        """Hand a batch over; return (what to send again, whether that was no outage)."""
        try:
            result = self.transport.send(records)
        except DeliveryError as exc:
            logger.debug("shim delivery failed: %s", exc)
            return records, False
        except Exception:
            logger.exception("shim transport failed unexpectedly")
            return records, False
        self._rejected += result.rejected
        self._delivered += len(records) - len(result.retry) - result.rejected
        return result.retry, not result.retry


def _plain(value: Any) -> Any:
    """numpy scalars and one-element arrays → Python scalars (the contract wants a scalar)."""
    if isinstance(value, (str, int, float, bool, dict)) or value is None:
        return value
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "size", 1) == 1:
        return item()
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return _plain(value[0])
    return value
