"""The C-heap trimmer an embedded chDB store runs (driftd.storage.heap)."""

from __future__ import annotations

import logging
import platform
import time
import uuid
from collections.abc import Callable

import pytest

from driftd.storage import EventStore
from driftd.storage.clickhouse import embedded_heap
from driftd.storage.heap import HeapTrimmer, malloc_trim

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def poll(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_trimmer_trims_repeatedly_until_stopped() -> None:
    calls: list[int] = []
    trimmer = HeapTrimmer(0.01, trim=lambda: calls.append(1) or 1).start()
    assert trimmer.running
    assert poll(lambda: len(calls) >= 3)
    trimmer.stop()
    assert not trimmer.running
    stopped_at = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped_at
    assert trimmer.calls == stopped_at
    assert trimmer.seconds >= 0.0


def test_a_failing_trim_is_logged_once_and_stops_the_trimmer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> int:
        raise OSError("no heap")

    with caplog.at_level(logging.ERROR, logger="driftd.storage.heap"):
        trimmer = HeapTrimmer(0.01, trim=broken).start()
        assert poll(lambda: not trimmer.running)
    assert [r.message for r in caplog.records] == ["malloc_trim failed; heap trimming stops"]
    trimmer.stop()


def test_without_malloc_trim_nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("driftd.storage.heap.malloc_trim", lambda: None)
    trimmer = HeapTrimmer(0.01).start()
    assert trimmer.trim is None
    assert not trimmer.running
    trimmer.stop()


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        HeapTrimmer(0)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_malloc_trim_is_glibcs_and_callable() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)  # 1: some memory was given back


def test_an_embedded_store_runs_a_trimmer_and_close_stops_it(
    chdb_session_store: EventStore, chdb_url: str
) -> None:
    store = EventStore.connect(chdb_url, database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        assert store.heap is not None
        assert store.heap.running == (store.heap.trim is not None)
        if GLIBC:
            assert store.heap.running
    finally:
        store.close()
    assert not store.heap.running


def test_a_clickhouse_server_gets_no_trimmer() -> None:
    assert embedded_heap("http://driftd:pw@clickhouse:8123/driftd") is None
    assert embedded_heap("https://clickhouse:8443/driftd") is None
