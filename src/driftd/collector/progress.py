"""What readiness needs to know about the pipeline: is work moving, are writes failing.

The pipeline marks a batch as in hand while it works on it, and every storage
step that succeeds as progress; :class:`~driftd.collector.pipeline.Retry` marks
each failed attempt with the kind of outage. ``/readyz`` turns the answers of
:meth:`Progress.problems` into a 503 naming each reason.

>>> clock = iter([0.0, 0.0, 100.0, 100.0]).__next__
>>> progress = Progress(clock=clock)
>>> progress.begin()
>>> progress.failed("disk_full", "ClickHouse insert failed: No space left on device")
>>> sorted(progress.problems(stall_after_s=60.0))
['disk', 'pipeline', 'storage_writes']
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Progress"]


class Progress:
    """Thread-safe record of the pipeline's last progress and its current failure."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._in_hand = 0
        self._last_progress = clock()
        self._failure: tuple[str, str] | None = None

    def begin(self) -> None:
        """A batch is in hand (work is waiting until :meth:`end`)."""
        with self._lock:
            if self._in_hand == 0:
                self._last_progress = self.clock()
            self._in_hand += 1

    def end(self) -> None:
        with self._lock:
            self._in_hand = max(self._in_hand - 1, 0)
            self._last_progress = self.clock()

    def progressed(self) -> None:
        """A storage step succeeded: storage works and the batch moves."""
        with self._lock:
            self._last_progress = self.clock()
            self._failure = None

    def failed(self, condition: str, message: str) -> None:
        """A storage step failed with an outage (``condition``: disk_full, locked, ...)."""
        with self._lock:
            self._failure = (condition, message)

    @property
    def failure(self) -> tuple[str, str] | None:
        """``(condition, message)`` of the current storage failure, or ``None``."""
        with self._lock:
            return self._failure

    def stalled_for(self) -> float:
        """Seconds without progress while a batch is in hand (0 when idle)."""
        with self._lock:
            if self._in_hand == 0:
                return 0.0
            return max(self.clock() - self._last_progress, 0.0)

    def problems(self, stall_after_s: float) -> dict[str, str]:
        """Every reason the pipeline is not ready, by check name (empty when ready)."""
        out: dict[str, str] = {}
        stalled = self.stalled_for()
        if stalled > stall_after_s:
            out["pipeline"] = f"stalled: no progress for {stalled:.0f}s with a batch in hand"
        failure = self.failure
        if failure is not None:
            condition, _ = failure
            out["storage_writes"] = f"failing: {condition}"
            if condition == "disk_full":
                out["disk"] = "full"
        return out
