"""The cycle collector paused around one polled batch, running again while it waits.

A batch allocates tens of thousands of tracked objects (the client's records,
messages, columns) that all live until it is committed; a cyclic garbage
collection meanwhile walks every one of them, and promotes them to older
generations that later collections walk again. With the collector paused from
poll to commit, the batch is freed by reference counting when the loop lets go
of it, and the collection that follows finds only what outlives the batch.

A batch held up (an outage retried with backoff, a failure retried) must not hold
up collection for the whole process: :func:`wait` runs the collector while the
thread that paused it waits, and a batch still paused after ``PAUSE_LIMIT_S``
(blocked on anything: a lock another thread holds through its own retries, a
slow flush) has collection switched back on by a guard thread for the rest of
it.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator

__all__ = ["PAUSE_LIMIT_S", "batch_paused", "wait"]

PAUSE_LIMIT_S = 1.0
"""The longest a batch keeps the cycle collector paused; a normal batch takes milliseconds."""

_owner: list[int | None] = [None]  # the thread whose batch paused the collector
_since: list[float] = [0.0]  # when it paused it (time.monotonic)
_guard: list[threading.Thread | None] = [None]
_guard_lock = threading.Lock()


def _watch() -> None:
    """Switch collection back on for a batch paused longer than ``PAUSE_LIMIT_S``.

    A stale read (the batch ended, the next one paused since) at worst switches
    collection on early for that batch: it never leaves it off."""
    while True:
        time.sleep(PAUSE_LIMIT_S / 4)
        if _owner[0] is not None and time.monotonic() - _since[0] > PAUSE_LIMIT_S:
            gc.enable()


def _start_guard() -> None:
    if _guard[0] is None:
        with _guard_lock:
            if _guard[0] is None:
                thread = threading.Thread(target=_watch, name="driftd-gc-guard", daemon=True)
                thread.start()
                _guard[0] = thread


@contextlib.contextmanager
def batch_paused() -> Iterator[None]:
    """The cycle collector paused for the block (unless it is paused already)."""
    if not gc.isenabled():
        yield
        return
    _start_guard()
    _since[0] = time.monotonic()
    _owner[0] = threading.get_ident()
    gc.disable()
    try:
        yield
    finally:
        _owner[0] = None
        gc.enable()


def wait(event: threading.Event, seconds: float) -> bool:
    """``event.wait(seconds)``, with the cycle collector running meanwhile if this
    thread's batch paused it."""
    if _owner[0] != threading.get_ident():
        return event.wait(seconds)
    gc.enable()
    try:
        return event.wait(seconds)
    finally:
        gc.disable()
