"""The collector loop and the cycle collector: paused around a batch, running between."""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import pytest
from tests.collector.test_pipeline import FlakyStore, build, kafka_msgs

from driftd.collector import gc_pause
from driftd.collector.loop import Collector
from driftd.collector.messages import Message
from driftd.errors import DriftdError


@pytest.fixture(autouse=True)
def _collector_enabled() -> Any:
    assert gc.isenabled()
    yield
    assert gc.isenabled()  # whatever happened, the cycle collector runs again


class FakeSource:
    """Hands out ``batches`` in turn, then stops the loop; records the collector's state."""

    def __init__(self, batches: list[list[Message]], stopping: threading.Event) -> None:
        self.batches = batches
        self.stopping = stopping
        self.seen: list[tuple[str, bool]] = []
        self.committed: list[int] = []

    def start(self) -> None:
        self.seen.append(("start", gc.isenabled()))

    def poll(self) -> list[Message]:
        self.seen.append(("poll", gc.isenabled()))
        if not self.batches:
            self.stopping.set()
            return []
        return self.batches.pop(0)

    def commit(self, messages: list[Message]) -> None:
        self.seen.append(("commit", gc.isenabled()))
        self.committed.append(len(messages))

    def close(self) -> None:
        self.seen.append(("close", gc.isenabled()))


class FailingOnce:
    """A pipeline whose first attempt fails; notes whether the collector ran meanwhile."""

    def __init__(self) -> None:
        self.attempts: list[bool] = []
        self.waited: list[bool] = []

    def process(self, messages: list[Message]) -> None:
        self.attempts.append(gc.isenabled())
        if len(self.attempts) == 1:
            raise DriftdError("once")


def test_the_cycle_collector_is_paused_from_poll_to_commit_and_runs_in_between() -> None:
    stopping = threading.Event()
    source = FakeSource([kafka_msgs(3), kafka_msgs(2, start=3)], stopping)
    pipeline, _ = build()
    inside: list[bool] = []
    process = pipeline.process

    def recording(messages: list[Message]) -> Any:
        inside.append(gc.isenabled())
        return process(messages)

    pipeline.process = recording  # type: ignore[method-assign]
    Collector(source, pipeline, stopping).run()  # type: ignore[arg-type]
    assert source.committed == [3, 2] and inside == [False, False]
    assert [s for s in source.seen if s[0] in ("poll", "commit")] == [
        ("poll", False), ("commit", False), ("poll", False), ("commit", False), ("poll", False)
    ]  # fmt: skip
    assert source.seen[0] == ("start", True) and source.seen[-1] == ("close", True)


def test_a_failed_batch_waits_for_its_retry_with_the_cycle_collector_running() -> None:
    stopping = threading.Event()
    source = FakeSource([kafka_msgs(1)], stopping)
    pipeline = FailingOnce()
    waits: list[bool] = []
    wait = gc_pause.wait

    def recording(event: threading.Event, seconds: float) -> bool:
        waits.append(gc.isenabled())
        answer = wait(event, seconds)
        waits.append(gc.isenabled())
        return answer

    gc_pause.wait = recording  # type: ignore[assignment]
    try:
        collector = Collector(source, pipeline, stopping, error_backoff_s=(0.001, 0.001))  # type: ignore[arg-type]
        collector.run()
    finally:
        gc_pause.wait = wait  # type: ignore[assignment]
    assert pipeline.attempts == [False, False] and source.committed == [1]
    assert waits == [False, False]  # paused before and after: the wait itself runs it


def test_wait_runs_the_collector_only_for_the_thread_that_paused_it() -> None:
    event = threading.Event()
    during: list[bool] = []

    class Probe(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            during.append(gc.isenabled())
            return True

    with gc_pause.batch_paused():
        assert not gc.isenabled()
        assert gc_pause.wait(Probe(), 0.0)
        assert not gc.isenabled()
        other = threading.Thread(target=gc_pause.wait, args=(Probe(), 0.0))
        other.start()
        other.join()
        assert not gc.isenabled()
    gc.disable()
    try:
        with gc_pause.batch_paused():  # paused by someone else: left to them
            assert gc_pause.wait(Probe(), 0.0)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert during == [True, False, False]
    assert not event.is_set()


def test_a_processed_batch_is_freed_without_the_cycle_collector() -> None:
    """Nothing the pipeline leaves behind (a reference cycle) still holds the messages:
    with the collector paused around a batch, they would live until it ran."""
    for store in (None, FlakyStore(0)):
        pipeline, _ = build(store)
        messages = kafka_msgs(30)
        pipeline.process(kafka_msgs(5, start=100))  # baselines loaded, windows open
        before = sys.getrefcount(messages)
        with gc_pause.batch_paused():
            pipeline.process(messages)
            assert sys.getrefcount(messages) == before


def test_a_batch_blocked_behind_another_threads_outage_retry_lets_collection_run() -> None:
    """The ticker retries a checkpoint (control store locked) holding the monitor's lock;
    its waits are not the collector's, so :func:`gc_pause.wait` does not apply. The
    collector's batch, stored, waits for that lock: past ``PAUSE_LIMIT_S`` the guard
    switches collection back on for the process instead of leaving it off for as long
    as the outage lasts."""
    from driftd.errors import StorageUnavailableError

    pipeline, _ = build(window=10)
    pipeline.process(kafka_msgs(5))  # a window open and dirty: the next tick checkpoints
    pipeline.retry.initial_s = pipeline.retry.max_s = 0.05
    control = pipeline.monitor.control
    save = control.save_checkpoints
    locked = threading.Event()

    def failing(states: object) -> None:
        if not locked.is_set():
            save(states)  # type: ignore[arg-type]
            return
        raise StorageUnavailableError("database is locked", condition="locked")

    control.save_checkpoints = failing  # type: ignore[method-assign]
    pipeline.monitor._windows[next(iter(pipeline.monitor._windows))].dirty = True
    locked.set()
    ticker = threading.Thread(target=pipeline.monitor.tick, args=(pipeline.retry,))
    ticker.start()
    paused_in_batch: list[bool] = []

    def batch() -> None:
        with gc_pause.batch_paused():
            paused_in_batch.append(not gc.isenabled())
            pipeline.process(kafka_msgs(3, start=5))

    collector = threading.Thread(target=batch)
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and pipeline.retry.progress.failure is None:
            threading.Event().wait(0.01)
        collector.start()
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and pipeline.store.count("predictions") < 8:
            threading.Event().wait(0.01)
        assert collector.is_alive()  # held up behind the ticker's retries
        deadline = time.monotonic() + 10 * gc_pause.PAUSE_LIMIT_S
        while time.monotonic() < deadline and not gc.isenabled():
            threading.Event().wait(0.05)
        running = gc.isenabled()
    finally:
        locked.clear()
        ticker.join(20.0)
        collector.join(20.0)
    assert paused_in_batch == [True]
    assert running
    assert gc.isenabled()
