"""Hand the C heap's free pages back to the system, now and then (glibc only).

With embedded chDB, ClickHouse runs in driftd's process: its pool threads
(inserts, merges) and Python share glibc's ``malloc``. glibc keeps memory a
thread freed inside that thread's arena and returns it to the system only from
the top of a heap, so a long-lived allocation above freed space pins it; the
process's RSS then climbs by the free space, not the live data (in a 150 s
soak the arenas' free space grew 9 → 118 MB, their live data flat at ~85 MB:
bench/README.md, "Memory over 10 minutes"). ``malloc_trim(0)`` releases the free pages of every
arena (``madvise``), whatever sits above them. :class:`HeapTrimmer` calls it
every ``interval_s`` from a daemon thread; each call takes about 2 ms.

Where the C library has no ``malloc_trim`` (musl, macOS) the trimmer does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["TRIM_INTERVAL_S", "HeapTrimmer", "malloc_trim"]

log = logging.getLogger(__name__)

TRIM_INTERVAL_S = 10.0
"""How often the embedded store's trimmer runs: a few ms each time, and the
free space it finds is what 10 s of inserts and merges left (tens of MB)."""


def malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return lambda: int(fn(0))


class HeapTrimmer:
    """Calls ``trim`` every ``interval_s`` until :meth:`stop`; counts calls and time.

    ``trim`` defaults to :func:`malloc_trim`; with none available, :meth:`start`
    starts nothing. A failing call is logged once and the trimmer stops.
    """

    def __init__(
        self, interval_s: float = TRIM_INTERVAL_S, trim: Callable[[], int] | None = None
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.trim = trim if trim is not None else malloc_trim()
        self.calls = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> HeapTrimmer:
        if self.trim is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="driftd-heap-trim", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        trim = self.trim
        assert trim is not None
        while not self._stop.wait(self.interval_s):
            started = time.perf_counter()
            try:
                trim()
            except Exception:  # a broken C library call: stop, never take the store down
                log.exception("malloc_trim failed; heap trimming stops")
                return
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
