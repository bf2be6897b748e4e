"""Stores for the storage tests: real chDB, SQLite and PostgreSQL, and the fakes.

chDB hosts one data directory per process: every test uses the session's
``chdb_url`` (``tests/conftest.py``), held open by ``chdb_session_store``, and
gets a database of its own in it.
PostgreSQL tests get a fresh database each, created and dropped through the
``postgres`` maintenance database (override the server with
``DRIFTD_TEST_POSTGRES_URL``, a URL to its maintenance database).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from driftd.events import Coordinates, OutcomeRecord, PredictionRecord
from driftd.storage import (
    ControlStore,
    ControlStoreProtocol,
    EventStore,
    EventStoreProtocol,
    InMemoryControlStore,
    InMemoryEventStore,
)
from driftd.storage.records import DriftMetric

POSTGRES_ADMIN_URL = os.environ.get(
    "DRIFTD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def chdb_session_store(chdb_url: str) -> Iterator[EventStore]:
    """The session's one chDB directory, held open by this store for the whole session."""
    store = EventStore.connect(chdb_url, database="default")
    store.ping()
    yield store
    store.close()


@pytest.fixture
def chdb_store(chdb_session_store: EventStore, chdb_url: str) -> Iterator[EventStore]:
    """A migrated EventStore on a database of its own (dropped afterwards)."""
    store = EventStore.connect(chdb_url, database=unique("t"))
    try:
        store.migrate()
        yield store
    finally:
        store.close()
        chdb_session_store.client.command(f"DROP DATABASE IF EXISTS {store.database}")


@pytest.fixture(params=["chdb", "memory"])
def event_store(request: pytest.FixtureRequest) -> Iterator[EventStoreProtocol]:
    """The same behaviour, held over chDB and the in-memory fake."""
    if request.param == "chdb":
        yield request.getfixturevalue("chdb_store")
        return
    store = InMemoryEventStore()
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    name = unique("driftd_test")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "memory"])
def control_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlStoreProtocol]:
    """The same behaviour, held over SQLite, PostgreSQL and the in-memory fake."""
    store: ControlStoreProtocol
    if request.param == "sqlite":
        store = ControlStore(f"sqlite:///{tmp_path}/control.db")
    elif request.param == "postgres":
        store = ControlStore(request.getfixturevalue("postgres_url"))
    else:
        store = InMemoryControlStore()
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def now_ms() -> int:
    """Now, so raw events are not expired by the TTL on insert."""
    return int(time.time() * 1000)


@pytest.fixture
def make_prediction(now_ms: int) -> Callable[..., PredictionRecord]:
    def make(
        i: int,
        *,
        model: str = "credit-risk",
        source: Coordinates | None = None,
        ts: int | None = None,
    ) -> PredictionRecord:
        return PredictionRecord(
            event_id=f"e-{model}-{i}",
            model=model,
            model_version="2026-11-01",
            timestamp_ms=now_ms + i if ts is None else ts,
            received_ms=now_ms + i + 5,
            request_id=f"r-{i}",
            num={"income": 52_000.0 + i, "age": 41.0},
            cat={"country": "DE", "has_card": "true"},
            nulls=["zip"] if i % 2 else [],
            pred_num=0.93 if i % 3 else None,
            pred_label="" if i % 3 else "approve",
            pred_proba={} if i % 3 else {"approve": 0.7, "reject": 0.3},
            segments={"region": "eu"},
            latency_ms=12.5 if i % 2 else None,
            source=source,
        )

    return make


@pytest.fixture
def make_outcome(now_ms: int) -> Callable[..., OutcomeRecord]:
    def make(
        i: int, *, model: str = "credit-risk", source: Coordinates | None = None
    ) -> OutcomeRecord:
        return OutcomeRecord(
            event_id=f"o-{model}-{i}",
            model=model,
            request_id=f"r-{i}",
            timestamp_ms=now_ms + i,
            received_ms=now_ms + i + 1,
            outcome_num=None if i % 2 else float(i),
            outcome_label="approve" if i % 2 else "",
            source=source,
        )

    return make


@pytest.fixture
def make_metric() -> Callable[..., DriftMetric]:
    def make(
        window_id: int,
        feature: str = "income",
        *,
        model: str = "credit-risk",
        metric: str = "psi",
        value: float = 0.1,
        computed_ms: int | None = None,
        severity: str = "ok",
        version: str = "v1",
        p_value: float | None = None,
    ) -> DriftMetric:
        end = 1_800_000_000_000 + window_id * 60_000
        return DriftMetric(
            model=model,
            baseline_version=version,
            window_id=window_id,
            window_start_ms=end - 60_000,
            window_end_ms=end,
            feature=feature,
            metric=metric,
            value=value,
            n=1000,
            computed_ms=end + 1 if computed_ms is None else computed_ms,
            p_value=p_value,
            effect_size=value,
            severity=severity,
        )

    return make
