"""A thread that lets idle windows close: calls :meth:`DriftMonitor.tick` every interval.

Without it the last partial window of a model that stops sending would never
be judged. Stopping sets an event the loop waits on, then joins.
"""

from __future__ import annotations

import logging
import threading

from driftd.errors import DriftdError
from driftd.monitoring.monitor import DriftMonitor
from driftd.monitoring.windows import RetryStep, run_once

__all__ = ["Ticker"]

logger = logging.getLogger(__name__)


class Ticker:
    """Calls ``monitor.tick(retry)`` every ``interval_s`` until :meth:`stop`."""

    def __init__(
        self, monitor: DriftMonitor, interval_s: float = 1.0, retry: RetryStep = run_once
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.monitor = monitor
        self.interval_s = interval_s
        self.retry = retry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftd-window-ticker", daemon=True)

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
                logger.warning("closing idle windows failed; retrying at the next tick")
