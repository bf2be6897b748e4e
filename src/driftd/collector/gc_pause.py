"""The cycle collector paused around one polled batch, running again while it waits.

A batch allocates tens of thousands of tracked objects (the client's records,
messages, columns) that all live until it is committed; a cyclic garbage
collection meanwhile walks every one of them, and promotes them to older
generations that later collections walk again. With the collector paused from
poll to commit, the batch is freed by reference counting when the loop lets go
of it, and the collection that follows finds only what outlives the batch.

A batch held up (an outage retried with backoff, a failure retried) must not hold
up collection for the whole process: :func:`wait` runs the collector while the
thread that paused it waits.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["batch_paused", "wait"]

_owner: list[int | None] = [None]  # the thread whose batch paused the collector


@contextlib.contextmanager
def batch_paused() -> Iterator[None]:
    """The cycle collector paused for the block (unless it is paused already)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _owner[0] = threading.get_ident()
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
