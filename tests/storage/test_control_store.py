"""The control store's behaviour over SQLite, PostgreSQL and the in-memory fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from driftd.errors import StorageError
from driftd.storage import ControlStore, ControlStoreProtocol
from driftd.storage.control_schema import CONTROL_SCHEMA_VERSION


def test_migrate_is_idempotent_and_returns_the_version(control_store: ControlStoreProtocol) -> None:
    assert control_store.migrate() == CONTROL_SCHEMA_VERSION
    assert control_store.migrate() == CONTROL_SCHEMA_VERSION
    control_store.ping()


def test_models_are_upserted_and_listed_sorted(control_store: ControlStoreProtocol) -> None:
    assert control_store.list_models() == []
    for name in ("zeta", "credit-risk", "zeta", "alpha"):
        control_store.upsert_model(name)
    assert control_store.list_models() == ["alpha", "credit-risk", "zeta"]


def test_checkpoints_save_load_overwrite_delete(control_store: ControlStoreProtocol) -> None:
    assert control_store.load_checkpoint("psi/m/0") is None
    control_store.save_checkpoints({"psi/m/0": '{"n": 1}', "psi/m/1": '{"n": 2}'})
    control_store.save_checkpoints({"psi/m/0": '{"n": 3}'})
    assert control_store.load_checkpoint("psi/m/0") == '{"n": 3}'
    assert control_store.load_checkpoint("psi/m/1") == '{"n": 2}'
    control_store.delete_checkpoint("psi/m/0")
    control_store.delete_checkpoint("never-saved")
    assert control_store.load_checkpoint("psi/m/0") is None
    assert control_store.load_checkpoint("psi/m/1") == '{"n": 2}'
    control_store.save_checkpoints({})


def test_many_checkpoints_in_one_call(control_store: ControlStoreProtocol) -> None:
    states = {f"unit/{i}": f'{{"i": {i}}}' for i in range(1_234)}
    control_store.save_checkpoints(states)
    assert control_store.load_checkpoint("unit/1233") == '{"i": 1233}'
    assert control_store.load_checkpoint("unit/0") == '{"i": 0}'


def test_save_checkpoints_is_all_or_nothing(control_store: ControlStoreProtocol) -> None:
    control_store.save_checkpoints({"a": "old"})
    bad: dict[str, Any] = {"a": "new", "b": "fine", "c": None}
    with pytest.raises(StorageError):
        control_store.save_checkpoints(bad)
    assert control_store.load_checkpoint("a") == "old"
    assert control_store.load_checkpoint("b") is None


def test_a_closed_store_raises_storage_error(control_store: ControlStoreProtocol) -> None:
    control_store.close()
    with pytest.raises(StorageError):
        control_store.ping()
    with pytest.raises(StorageError):
        control_store.load_checkpoint("a")


# --- SQL specifics ------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_and_records_its_version(tmp_path: Path) -> None:
    with ControlStore(f"sqlite:///{tmp_path}/c.db") as store:
        store.migrate()
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5_000
            rows = conn.execute(text("SELECT id, version FROM control_schema_version")).all()
    assert [tuple(r) for r in rows] == [(1, CONTROL_SCHEMA_VERSION)]


def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    with ControlStore(url) as store:
        store.migrate()
        store.save_checkpoints({"k": "v"})
    with ControlStore(url) as store:
        assert store.migrate() == CONTROL_SCHEMA_VERSION
        assert store.load_checkpoint("k") == "v"


@pytest.mark.postgres
def test_postgres_records_its_version(postgres_url: str) -> None:
    with ControlStore(postgres_url) as store:
        store.migrate()
        with store.engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM control_schema_version")).scalar()
    assert version == CONTROL_SCHEMA_VERSION


def test_an_unreachable_database_raises_storage_error_without_the_password() -> None:
    store = ControlStore("postgresql+psycopg://driftd:s3cret@127.0.0.1:1/driftd")
    with pytest.raises(StorageError) as caught:
        store.ping()
    store.close()
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("url", ["mysql+pymysql://x@h/db", "not a url"])
def test_only_sqlite_and_postgres_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        ControlStore(url)
