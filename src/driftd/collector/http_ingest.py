"""HTTP ingest with group commit: many small requests, one storage insert.

Each request's events are queued; one thread takes everything queued (up to
``max_events``, waiting at most ``max_wait_ms`` for more), runs it through the
pipeline as one batch and then answers every waiting request. A 200 therefore
means "stored" (with Kafka enabled: "acknowledged by Kafka", see
:mod:`driftd.collector.forward`), while ClickHouse sees a few large inserts
instead of one per request (each insert costs ~20 ms whatever its size).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol

from driftd.collector.messages import BatchResult, DeadLetter, Message

__all__ = ["BatchProcessor", "HttpIngest", "IngestOutcome"]

logger = logging.getLogger(__name__)


class IngestOutcome:
    """What happened to one request's events: how many were accepted, which were
    rejected, and (with Kafka) the positions Kafka did not acknowledge."""

    __slots__ = ("accepted", "rejected", "unpublished")

    def __init__(
        self, accepted: int, rejected: list[DeadLetter], unpublished: list[int] | None = None
    ) -> None:
        self.accepted = accepted
        self.rejected = rejected
        self.unpublished = unpublished if unpublished is not None else []


_Pending = tuple[list[Message], "Future[IngestOutcome]"]


class BatchProcessor(Protocol):
    """Where batches go: the local pipeline, or the Kafka forwarder."""

    def process(self, messages: Sequence[Message]) -> BatchResult: ...


class HttpIngest:
    """Batches HTTP submissions into pipeline calls on one background thread."""

    def __init__(
        self, pipeline: BatchProcessor, *, max_events: int = 10_000, max_wait_ms: int = 200
    ):
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.pipeline = pipeline
        self.max_events = max_events
        self.max_wait_ms = max_wait_ms
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._requests = itertools.count()
        self._waiting: dict[int, float] = {}  # request → when it was queued (monotonic)
        self._waiting_lock = threading.Lock()

    def oldest_wait_s(self) -> float:
        """How long the oldest request not yet answered has waited (0 when none)."""
        with self._waiting_lock:
            if not self._waiting:
                return 0.0
            return max(time.monotonic() - min(self._waiting.values()), 0.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="driftd-http-ingest", daemon=True)
        self._thread.start()

    def submit(self, messages: list[Message]) -> Future[IngestOutcome]:
        """Queue one request's events; the future resolves once they are stored."""
        future: Future[IngestOutcome] = Future()
        if self._closed:
            future.set_exception(RuntimeError("ingest is shutting down"))
            return future
        request = next(self._requests)
        for msg in messages:
            msg.request = request
        with self._waiting_lock:
            self._waiting[request] = time.monotonic()
        future.add_done_callback(lambda _: self._done(request))
        self._queue.put((messages, future))
        return future

    def _done(self, request: int) -> None:
        with self._waiting_lock:
            self._waiting.pop(request, None)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking requests, flush what is queued, and stop the thread."""
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                stop = True
                pending: list[_Pending] = []
            else:
                pending = [first]
            size = sum(len(p[0]) for p in pending)
            deadline = time.monotonic() + self.max_wait_ms / 1000
            while size < self.max_events:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    continue
                pending.append(item)
                size += len(item[0])
            if pending:
                self._flush(pending)
        while True:  # a request that raced close() is refused, never left hanging
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(RuntimeError("ingest is shutting down"))

    def _flush(self, pending: Sequence[_Pending]) -> None:
        batch = [msg for messages, _ in pending for msg in messages]
        try:
            result = self.pipeline.process(batch)
        except Exception as exc:
            logger.exception("HTTP batch of %d events failed", len(batch))
            for _, future in pending:
                future.set_exception(exc)
            return
        _answer(pending, result)


def _answer(pending: Sequence[_Pending], result: BatchResult) -> None:
    start = 0
    letters = sorted(result.dead_letters, key=lambda d: d.index)
    unpublished = sorted(result.unpublished)
    cursor = other = 0
    for messages, future in pending:
        end = start + len(messages)
        mine: list[DeadLetter] = []
        while cursor < len(letters) and letters[cursor].index < end:
            letter = letters[cursor]
            letter.index -= start  # position within this request
            mine.append(letter)
            cursor += 1
        lost: list[int] = []
        while other < len(unpublished) and unpublished[other] < end:
            lost.append(unpublished[other] - start)
            other += 1
        future.set_result(IngestOutcome(len(messages) - len(mine) - len(lost), mine, lost))
        start = end
