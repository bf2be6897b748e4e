"""API keys in the control store (SQLite, PostgreSQL, memory) and the schema step 3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, Table, inspect, select, text
from sqlalchemy.orm import Mapped, mapped_column

from driftd.errors import ConfigError
from driftd.storage import ControlStore
from driftd.storage import control_schema as schema
from driftd.storage.apikeys import (
    ApiKeyStore,
    MemoryApiKeys,
    SqlApiKeys,
    digest,
    keys_from_file,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "memory"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiKeyStore]:
    if request.param == "memory":
        yield MemoryApiKeys()
        return
    url = (
        f"sqlite:///{tmp_path / 'control.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    control = ControlStore(url)
    control.migrate()
    try:
        yield SqlApiKeys(control)
    finally:
        control.close()


def test_create_list_revoke(keys: ApiKeyStore) -> None:
    token, key = keys.create("grafana", ["read"], ["credit-risk", "fraud"])
    other_token, other = keys.create("sender", ["ingest", "ingest"])
    assert token != other_token and len(token) > 40
    assert key.digest == digest(token) and other.scopes == ("ingest",)
    assert [k.key_id for k in keys.active()] == [key.key_id, other.key_id]
    assert keys.active()[0].models == ("credit-risk", "fraud")
    assert keys.revoke(key.key_id) is True
    assert keys.revoke(key.key_id) is False  # already revoked
    assert keys.revoke("key_missing") is False
    assert [k.key_id for k in keys.active()] == [other.key_id]
    listed = {k.key_id: k for k in keys.list()}
    assert listed[key.key_id].revoked_at is not None


def test_invalid_keys_are_refused(keys: ApiKeyStore) -> None:
    with pytest.raises(ValueError, match="scopes"):
        keys.create("x", ["write"])
    with pytest.raises(ValueError, match="scopes"):
        keys.create("x", [])
    with pytest.raises(ValueError, match="name"):
        keys.create("", ["read"])


def test_the_store_never_holds_the_key(tmp_path: Path) -> None:
    path = tmp_path / "control.db"
    with ControlStore(f"sqlite:///{path}") as control:
        control.migrate()
        token, _ = SqlApiKeys(control).create("ci", ["admin"])
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in raw and token[4:20].encode() not in raw
    assert digest(token).encode() in raw


def test_keys_path(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    token = "drk_" + "a1B2" * 10
    path.write_text(f"# name scopes key [models]\ngrafana read {token} credit-risk\n\n")
    (key,) = keys_from_file(str(path))
    assert (key.name, key.scopes, key.models, key.digest) == (
        "grafana", ("read",), ("credit-risk",), digest(token),
    )  # fmt: skip
    path.write_text("grafana read short\n")
    with pytest.raises(ConfigError, match="at least 32") as err:
        keys_from_file(str(path))
    assert "short" not in str(err.value)
    path.write_text(f"grafana read sha256:{digest(token)}\n")
    assert keys_from_file(str(path))[0].digest == digest(token)
    path.write_text(f"grafana write {token}\n")
    with pytest.raises(ConfigError, match="scopes"):
        keys_from_file(str(path))


class _AlertsLike(schema.Base):
    """A table a step numbered on another branch adds (as alerting's step 2 does)."""

    __tablename__ = "test_step_two"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(32))


def test_steps_merged_from_branches_apply_whatever_the_recorded_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'control.db'}"
    with ControlStore(url) as control:  # a store migrated by this branch alone: version 3
        assert control.migrate() == 3
    table = _AlertsLike.__table__
    assert isinstance(table, Table)
    merged = {1: schema.STEPS[1], 2: (table,), 3: schema.STEPS[3]}
    monkeypatch.setattr("driftd.storage.control.STEPS", merged)
    with ControlStore(url) as control:  # after the merge, step 2 arrives below version 3
        assert control.migrate() == 3
        assert "test_step_two" in inspect(control.engine).get_table_names()
        with control.engine.begin() as conn:
            conn.execute(table.insert().values(id=1, label="x"))
            assert conn.scalar(select(table.c.label)) == "x"
            conn.execute(text("SELECT count(*) FROM api_keys"))
