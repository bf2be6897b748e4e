"""Storage faults: classified before retrying; an outage pauses the pipeline, /readyz says
why, and it resumes with nothing lost and nothing stored twice."""

from __future__ import annotations

import contextlib
import errno
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from driftd.baselines import create_baseline
from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.messages import BatchResult, Message
from driftd.collector.pipeline import Pipeline, Retry
from driftd.collector.progress import Progress
from driftd.collector.scrub import Scrubber
from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.errors import StorageDataError, StorageError, StorageUnavailableError
from driftd.events import Coordinates
from driftd.metrics import Metrics
from driftd.monitoring.monitor import DriftMonitor
from driftd.services import build_services
from driftd.storage import ControlStore, EventStore
from driftd.storage.base import as_batch
from driftd.storage.faults import storage_error
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore

from .conftest import free_port
from .integration.kafka_helpers import wait_for

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.mark.parametrize(
    ("exc", "kind", "condition"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StorageUnavailableError, "disk_full"),
        (RuntimeError("Code: 243. NOT_ENOUGH_SPACE: Cannot reserve 1.00 MiB"),
         StorageUnavailableError, "disk_full"),
        (sqlite3.OperationalError("database is locked"), StorageUnavailableError, "locked"),
        (ConnectionRefusedError(111, "Connection refused"), StorageUnavailableError,
         "unreachable"),
        (TimeoutError("read timed out"), StorageUnavailableError, "timeout"),
        (RuntimeError("Code: 252. DB::Exception: Too many parts (3001 with average size of "
                      "1.20 KiB) in table 'driftd.outcomes'. Merges are processing "
                      "significantly slower than inserts. (TOO_MANY_PARTS)"),
         StorageUnavailableError, "too_many_parts"),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
         StorageDataError, None),
        (TypeError("Integer exceeds 64-bit range"), StorageDataError, None),
        (RuntimeError("Code: 27. CANNOT_PARSE_INPUT_ASSERTION_FAILED"), StorageDataError, None),
        (RuntimeError("something nobody foresaw"), StorageError, None),
    ],
)  # fmt: skip
def test_failures_are_classified_before_anything_is_retried(
    exc: Exception, kind: type[StorageError], condition: str | None
) -> None:
    wrapped = storage_error("insert", exc)
    assert type(wrapped) is kind
    assert getattr(wrapped, "condition", None) == condition


class Steps:
    """A step that fails with the given errors, then succeeds; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_an_outage_is_retried_with_jittered_backoff_and_reported_until_it_passes() -> None:
    progress = Progress()
    seen: list[tuple[str, ...]] = []
    retry = Retry(0.001, 0.004, progress=progress, jitter=lambda: 1.0)
    retry.on_retry = lambda: seen.append(tuple(progress.problems(3600)))
    step = Steps(StorageUnavailableError("full", condition="disk_full"), StorageError("refused"))
    assert retry("store", step) == "done" and step.calls == 3
    assert seen == [("storage_writes", "disk"), ("storage_writes",)]
    assert progress.problems(3600) == {}  # recovered


def test_data_errors_are_never_retried() -> None:
    step = Steps(StorageDataError("bad string"))
    with pytest.raises(StorageDataError):
        Retry(0.001, 0.01)("store", step)
    assert step.calls == 1


def test_an_unknown_failure_is_settled_by_probing_storage() -> None:
    healthy = Steps(StorageError("odd"), StorageError("odd"))
    with pytest.raises(StorageDataError):  # storage answers, the step fails again: data
        Retry(0.001, 0.01)("store", healthy, probe=lambda: None)
    assert healthy.calls == 2
    hiccup = Steps(StorageError("odd"))  # failed once while storage answered: tried again
    assert Retry(0.001, 0.01)("store", hiccup, probe=lambda: None) == "done"

    def down() -> None:
        raise StorageUnavailableError("ping failed")

    outage = Steps(StorageError("odd"), StorageError("odd"))
    assert Retry(0.001, 0.01)("store", outage, probe=down) == "done"
    assert outage.calls == 3


def build(store: Any, control: Any) -> Pipeline:
    store.migrate()
    control.migrate()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "p": rng.random(300)})
    create_baseline(store, control, frame, "m", "v1", prediction="p")
    return Pipeline(
        store=store,
        monitor=DriftMonitor(store, control, window_size=10),
        scrubber=Scrubber({}),
        dead_letters=MemoryDeadLetters(),
        metrics=Metrics(),
        retry=Retry(0.01, 0.1),
    )


def batch(n: int, start: int = 0) -> list[Message]:
    return [
        Message("predictions",
                orjson.dumps({"model": "m", "event_id": f"e{i}", "features": {"x": i / n},
                              "prediction": 0.5}),
                Coordinates("t", 0, i))
        for i in range(start, start + n)
    ]  # fmt: skip


def run_paused(pipeline: Pipeline, messages: list[Message]) -> Future[BatchResult]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(pipeline.process, messages)
    pool.shutdown(wait=False)
    return future


def test_a_locked_sqlite_control_store_pauses_the_batch_until_the_lock_goes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "control.db"
    control = ControlStore(f"sqlite:///{path}", busy_timeout_ms=50)
    store = InMemoryEventStore()
    pipeline = build(store, control)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        future = run_paused(pipeline, batch(25))
        wait_for(lambda: pipeline.progress.failure is not None, 30, "the lock to be noticed")
        assert pipeline.progress.problems(3600) == {"storage_writes": "failing: locked"}
        assert not future.done()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    result = future.result(timeout=60)
    assert result.stored == 25 and store.count("predictions") == 25
    assert pipeline.progress.problems(0) == {}
    control.close()


class Proxy:
    """A TCP proxy to a real server that can be made to refuse connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept() on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()


@pytest.fixture
def postgres_db() -> Iterator[str]:
    name = f"driftd_faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield name
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgres_refusing_connections_pauses_and_resumes_with_nothing_lost(
    postgres_db: str,
) -> None:
    proxy = Proxy(("127.0.0.1", 5432))
    proxy.start()
    control = ControlStore(f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{postgres_db}")
    store = InMemoryEventStore()
    pipeline = build(store, control)
    pipeline.process(batch(10))
    proxy.stop()
    try:
        future = run_paused(pipeline, batch(30, start=10))
        wait_for(lambda: pipeline.progress.failure is not None, 60, "the refusal to be noticed")
        condition, _ = pipeline.progress.failure or ("", "")
        assert condition in {"unreachable", "timeout"} and not future.done()
    finally:
        proxy.start()
    assert future.result(timeout=120).stored == 30
    pipeline.process(batch(30, start=10))  # redelivered: not stored twice
    assert store.count("predictions") == store.count_distinct_event_ids("predictions") == 40
    assert pipeline.progress.problems(0) == {}
    control.close()
    proxy.stop()


class DiskFullClient:
    """A real chDB client whose inserts fail with ENOSPC while ``full`` is set."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.full = threading.Event()

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if self.full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.client.insert(*args, **kwargs)

    def insert_arrow(self, *args: Any, **kwargs: Any) -> Any:  # predictions go in as Arrow
        if self.full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.client.insert_arrow(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_full_disk_pauses_ingest_and_readyz_names_it_until_space_returns(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}",
                 "retry_initial_ms": 20, "retry_max_ms": 200},
        api={"port": 0},
        collector={"batch_max_wait_ms": 20, "stall_after_ms": 1_000},
    )  # fmt: skip
    real = EventStore.connect(chdb_url, database)
    disk = DiskFullClient(real.client)
    store = EventStore(disk, database)  # type: ignore[arg-type]
    services = build_services(settings, store=store)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "p": rng.random(300)})
    create_baseline(services.store, services.control, frame, "m", "v1", prediction="p")
    daemon = Daemon(settings, "all", services=services)
    daemon.start()
    url = f"http://127.0.0.1:{daemon.port}"
    events = [{"model": "m", "event_id": f"e{i}", "features": {"x": 0.1}, "prediction": 0.5}
              for i in range(20)]  # fmt: skip
    try:
        assert httpx.get(f"{url}/readyz").status_code == 200
        disk.full.set()
        pool = ThreadPoolExecutor(1)
        answer = pool.submit(httpx.post, f"{url}/v1/events/predictions", json=events, timeout=120)

        def says_full() -> bool:
            ready = httpx.get(f"{url}/readyz", timeout=30)
            checks = ready.json()["checks"]
            return (
                ready.status_code == 503
                and checks.get("disk") == "full"
                and (checks.get("pipeline", "ok").startswith("stalled"))
            )

        wait_for(says_full, 60, "/readyz to report the full disk and the stall")
        assert httpx.get(f"{url}/healthz").status_code == 200  # liveness is unaffected
        assert not answer.done()
        disk.full.clear()
        assert answer.result(timeout=120).json()["accepted"] == 20
        pool.shutdown()
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, 30, "ready again")
        assert real.count("predictions") == real.count_distinct_event_ids("predictions") == 20
    finally:
        daemon.stop()
        real.close()


class Refuses(InMemoryEventStore):
    """Refuses, with an error no rule explains, every batch holding a poisoned event."""

    def insert_predictions(self, records: Any, dedup_token: str | None = None) -> None:
        if "poison" in as_batch(records).cat.get("tag", ()):
            raise StorageError("something nobody foresaw")
        super().insert_predictions(records, dedup_token)


def test_an_unexplained_refusal_of_live_storage_is_isolated_to_its_event() -> None:
    store = Refuses()
    pipeline = build(store, InMemoryControlStore())
    messages = batch(12)
    messages[7].value = orjson.dumps(
        {"model": "m", "event_id": "bad", "features": {"tag": "poison"}, "prediction": 0.5}
    )
    result = pipeline.process(messages)
    letters = pipeline.dead_letters.letters  # type: ignore[attr-defined]
    assert [(d.reason, d.index) for d in letters] == [("unstorable", 7)]
    assert result.stored == 11 and store.count("predictions") == 11


def test_readyz_answers_promptly_and_names_a_locked_control_store(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    """Issue case 6: with SQLite locked, a request waited 43 s and /readyz said 200."""
    path = tmp_path / "control.db"
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{path}"},
        api={"port": 0},
        collector={"ready_check_timeout_ms": 500},
    )  # fmt: skip
    daemon = Daemon(settings, "all")
    daemon.start()
    url = f"http://127.0.0.1:{daemon.port}/readyz"
    try:
        assert httpx.get(url, timeout=30).status_code == 200
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            answer = httpx.get(url, timeout=30)  # answers well before busy_timeout (5 s)
            assert answer.status_code == 503
            assert answer.json()["checks"]["control"] in {"timeout", "unreachable"}
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        wait_for(lambda: httpx.get(url, timeout=30).status_code == 200, 30, "ready again")
    finally:
        daemon.stop()


class _Killed(BaseException):
    """The process dying (SIGKILL) between the store's two outcome writes."""


class _KilledBeforeOutcomes(EventStore):
    """An :class:`EventStore` that dies, once ``armed``, right before writing ``outcomes``
    (after ``outcomes_latest``): the crash window the write order is there for."""

    armed = False

    def _insert_table(self, table: str, arrow: Any, token: str | None) -> None:
        if self.armed and table == "outcomes":
            raise _Killed
        super()._insert_table(table, arrow, token)


def test_a_redelivery_composed_differently_under_the_same_token_still_joins(
    chdb_url: str, database: str
) -> None:
    """Killed between the two outcome writes, the collector redelivers the batch: this
    time an outcome the first attempt dead-lettered (its model had no baseline yet) is
    stored. The token (first-last offset) is the same, so the join table's write must
    not be taken for a repeat of the first attempt's, which lacked that outcome."""
    store = _KilledBeforeOutcomes(EventStore.connect(chdb_url, database).client, database)
    control = InMemoryControlStore()
    build(store, control)  # model "m" has a baseline, "n" not yet
    now = int(time.time() * 1000)
    messages = [
        Message("outcomes", orjson.dumps({"model": model, "request_id": f"r{i}",
                                          "outcome": "yes", "timestamp": now}),
                Coordinates("o", 0, i))
        for i, model in enumerate(["m", "n", "m"])
    ]  # fmt: skip
    store.armed = True
    with pytest.raises(_Killed):
        build(store, control).process(messages)  # "n" dead-lettered: unknown_model
    store.armed = False
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "p": rng.random(300)})
    create_baseline(store, control, frame, "n", "v1", prediction="p")
    restarted = build(store, control)  # nothing stored by the high-water mark: all again
    assert store.stored_offsets("outcomes", "o", [0]) == {}
    assert restarted.process(messages).stored == 3
    assert store.stored_offsets("outcomes", "o", [0]) == {0: 2}
    joined = store.client.query(
        f"SELECT DISTINCT request_id FROM {database}.outcomes_latest ORDER BY request_id"
    ).result_rows
    assert joined == [("r0",), ("r1",), ("r2",)]  # r1's label would never join otherwise
    store.close()


class _TooManyParts(InMemoryEventStore):
    """ClickHouse throttling inserts for a while: merges behind, too many parts."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def insert_outcomes(self, records: Any, dedup_token: str | None = None) -> None:
        if self.refusals:
            self.refusals -= 1
            raise storage_error("ClickHouse insert into outcomes", RuntimeError(
                "Code: 252. DB::Exception: Too many parts (3001). Merges are processing "
                "significantly slower than inserts. (TOO_MANY_PARTS)"))  # fmt: skip
        super().insert_outcomes(records, dedup_token)


def test_too_many_parts_is_waited_out_not_dead_lettered() -> None:
    store = _TooManyParts(refusals=4)
    pipeline = build(store, InMemoryControlStore())
    messages = [
        Message("outcomes", {"model": "m", "request_id": f"r{i}", "outcome": 1},
                Coordinates("o", 0, i))
        for i in range(2)
    ]  # fmt: skip
    result = pipeline.process(messages)
    assert not pipeline.dead_letters.letters  # type: ignore[attr-defined]
    assert result.stored == 2 and store.count("outcomes") == 2
