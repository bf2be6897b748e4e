"""Feature values stored without their names, the names once per layout (migration 6).

Real chDB: rows of every pattern of sent features read back as written, rows stored
before the migration (names in their maps) beside new ones, a layout always stored
before the rows that name it, and SQL users' view of both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from tests.storage.conftest import unique

from driftd.errors import StorageError
from driftd.events import Coordinates, PredictionRecord
from driftd.storage import EventStore, migrations
from driftd.storage.columns import PREDICTION_COLUMNS

BASE = int(time.time()) * 1000  # recent: older rows would expire on insert (TTL)


def _record(i: int) -> PredictionRecord:
    """Features sent in four patterns (every one, some, none of a kind, none at all)."""
    num = {"income": 1000.0 + i, "âge": -0.5, "score 2": 1e-300}
    cat = {"country": "DE", "plan": f"p{i % 3}"}
    if i % 4 == 1:
        del num["âge"], cat["plan"]
    elif i % 4 == 2:
        cat = {}
    elif i % 4 == 3:
        num, cat = {}, {}
    return PredictionRecord(
        event_id=f"e{i}", model="credit-risk", model_version="v1", timestamp_ms=BASE + i,
        received_ms=BASE + i + 5, request_id=f"r{i}", num=num, cat=cat,
        nulls=["zip"] if i % 2 else [], pred_num=0.25, pred_label="", pred_proba={},
        segments={"region": "eu"}, latency_ms=None, source=Coordinates("t", 0, i),
    )  # fmt: skip


def _read(store: EventStore) -> list[PredictionRecord]:
    return store.read_predictions("credit-risk", BASE, BASE + 1_000)


def _count(store: EventStore, table: str) -> int:
    return int(str(store.client.command(f"SELECT count() FROM {store.database}.{table}")))


def test_every_pattern_of_sent_features_reads_back_as_written(chdb_store: EventStore) -> None:
    records = [_record(i) for i in range(12)]
    chdb_store.insert_predictions(records, dedup_token="b0")
    assert _read(chdb_store) == records
    assert _count(chdb_store, "feature_layouts") == 4  # one per pattern
    stored = chdb_store.client.query(
        f"SELECT count() FROM {chdb_store.database}.predictions "
        "WHERE layout != 0 AND empty(num) AND empty(cat)"
    ).result_rows
    assert stored == [(12,)]  # values only: the maps are left empty


@pytest.fixture
def version_5_store(chdb_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventStore]:
    """A store migrated to version 5 only: the schema before feature layouts."""
    store = EventStore.connect(chdb_url, database=unique("v5"))
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
        assert store.migrate() == 5
    try:
        yield store
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


def _as_before(record: PredictionRecord) -> list[Any]:
    """A row as a collector before migration 6 wrote it: names in the maps."""
    src = record.source or Coordinates("", -1, -1)
    return [
        record.event_id, record.model, record.model_version, record.timestamp_ms,
        record.received_ms, record.request_id, record.num, record.cat, record.nulls,
        record.pred_num, record.pred_label, record.pred_proba, record.segments,
        record.latency_ms, src.topic, src.partition, src.offset,
    ]  # fmt: skip


def test_rows_stored_before_migration_6_read_back_beside_new_ones(
    version_5_store: EventStore,
) -> None:
    store, db = version_5_store, version_5_store.database
    old = [_record(i) for i in range(8)]
    store.client.insert(
        f"{db}.predictions", [_as_before(r) for r in old], column_names=PREDICTION_COLUMNS.names
    )
    assert store.migrate() == migrations.latest_version()
    assert store.migrate() == migrations.latest_version()  # idempotent
    new = [_record(i) for i in range(8, 16)]
    store.insert_predictions(new, dedup_token="after")
    assert _read(store) == old + new
    # a collector not yet upgraded (central mode, rolling upgrade) still writes maps
    late = _record(16)
    store.client.insert(
        f"{db}.predictions", [_as_before(late)], column_names=PREDICTION_COLUMNS.names
    )
    assert _read(store) == [*old, *new, late]
    # SQL users read features by name from the view, whichever way a row was stored
    incomes = store.client.query(
        f"SELECT event_id, num['income'] FROM {db}.prediction_features "
        "WHERE mapContains(num, 'income') ORDER BY timestamp"
    ).result_rows
    assert incomes == [(r.event_id, r.num["income"]) for r in [*old, *new, late] if r.num]


def test_a_layout_is_stored_before_the_rows_that_name_it(chdb_store: EventStore) -> None:
    db = chdb_store.database
    chdb_store.client.command(
        f"ALTER TABLE {db}.feature_layouts ADD CONSTRAINT refuse CHECK layout = 0"
    )
    records = [_record(i) for i in range(4)]
    with pytest.raises(StorageError, match="feature_layouts"):
        chdb_store.insert_predictions(records, dedup_token="b0")
    assert _count(chdb_store, "predictions") == 0
    chdb_store.client.command(f"ALTER TABLE {db}.feature_layouts DROP CONSTRAINT refuse")
    chdb_store.insert_predictions(records, dedup_token="b0")  # the retry writes them
    assert _read(chdb_store) == records


def test_a_layout_written_again_after_a_restart_names_rows_once(chdb_store: EventStore) -> None:
    first = [_record(i) for i in range(4)]
    chdb_store.insert_predictions(first, dedup_token="b0")
    restarted = EventStore(chdb_store.client, chdb_store.database)  # knows no layout yet
    second = [_record(i) for i in range(4, 8)]
    restarted.insert_predictions(second, dedup_token="b1")
    assert _count(chdb_store, "feature_layouts") == 8  # each layout twice until merged
    assert _read(chdb_store) == first + second


def test_a_row_whose_layout_is_missing_does_not_break_reading_the_others(
    chdb_store: EventStore,
) -> None:
    """``feature_layouts`` lost (a backup of predictions alone, a writer around the
    store): those rows read with empty features; every other row still reads whole."""
    db = chdb_store.database
    records = [_record(i) for i in range(8)]
    chdb_store.insert_predictions(records, dedup_token="b0")
    chdb_store.client.command(f"TRUNCATE TABLE {db}.feature_layouts")
    later = [replace(_record(i), num={"other": float(i)}, cat={}) for i in range(8, 12)]
    chdb_store.insert_predictions(later, dedup_token="b1")  # a layout of its own
    got = _read(chdb_store)
    assert [r.event_id for r in got] == [r.event_id for r in records + later]
    assert all(r.num == {} and r.cat == {} for r in got[:8])
    assert got[:8] == [replace(r, num={}, cat={}) for r in records]
    assert got[8:] == later
