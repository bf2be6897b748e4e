"""A thread that calls a monitor's ``tick`` every interval.

For :class:`DriftMonitor`, it lets idle windows close: without it the last
partial window of a model that stops sending would never be judged. For
:class:`~driftd.monitoring.performance.PerformanceMonitor`, it recomputes the
windows labels joined. Stopping sets an event the loop waits on, then joins.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from driftd.errors import DriftdError
from driftd.monitoring.windows import RetryStep, run_once

__all__ = ["Tickable", "Ticker"]

logger = logging.getLogger(__name__)


class Tickable(Protocol):
    def tick(self, retry: RetryStep = ...) -> int: ...


class Ticker:
    """Calls ``monitor.tick(retry)`` every ``interval_s`` until :meth:`stop`."""

    def __init__(
        self,
        monitor: Tickable,
        interval_s: float = 1.0,
        retry: RetryStep = run_once,
        name: str = "driftd-window-ticker",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.monitor = monitor
        self.interval_s = interval_s
        self.retry = retry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.monitor.tick(self.retry)
            except DriftdError:  # storage down and the daemon stopping: the next tick retries
                logger.warning("%s: a tick failed; retrying at the next one", self._thread.name)
