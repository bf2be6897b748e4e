"""API keys in the control store: only SHA-256 digests are kept, never a key.

A key is ``drk_`` followed by 43 URL-safe random characters (256 bits), shown
once when created. Its id (``key_id``, public, for ``list`` and ``revoke``) is
random too and tells nothing about the key. Scopes: ``ingest``, ``read``,
``admin`` (admin may do everything); ``models`` restricts a key to those models
(empty: every model).

>>> keys = MemoryApiKeys()
>>> token, key = keys.create("grafana", ["read"], ["credit-risk"])
>>> token.startswith("drk_"), key.scopes, key.models, digest(token) == key.digest
(True, ('read',), ('credit-risk',), True)
>>> [k.key_id for k in keys.active()] == [key.key_id]
True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy import Table, select, update

from driftd.storage.control_schema import ApiKeyRow, utcnow

if TYPE_CHECKING:
    from driftd.storage.control import ControlStore

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeyStore",
    "MemoryApiKeys",
    "Scope",
    "SqlApiKeys",
    "digest",
    "keys_from_file",
    "new_token",
]

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
TOKEN_PREFIX = "drk_"


def new_token() -> str:
    """A fresh key: ``drk_`` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The SHA-256 of a key, in hex: what is stored and compared."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (its digest, never the key itself)."""

    key_id: str
    name: str
    digest: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def sees(self, model: str) -> bool:
        return not self.models or model in self.models


class ApiKeyStore(Protocol):
    """Where keys live: the control store (SQL) or memory (tests)."""

    def create(
        self, name: str, scopes: Sequence[str], models: Sequence[str] = ()
    ) -> tuple[str, ApiKey]:
        """Store a new key's digest; return the key (shown once) and its record."""
        ...

    def active(self) -> list[ApiKey]: ...

    def list(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> bool:
        """Revoke; False when no such active key."""
        ...


def _check(name: str, scopes: Sequence[str], models: Sequence[str]) -> None:
    if not name or len(name) > 128:
        raise ValueError("name must be 1 to 128 characters")
    if not scopes or any(s not in SCOPES for s in scopes):
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}, got {list(scopes)}")
    if any(not m or "," in m for m in models):
        raise ValueError("models must be non-empty names without commas")


def _new(name: str, scopes: Sequence[str], models: Sequence[str]) -> tuple[str, ApiKey]:
    _check(name, scopes, models)
    token = new_token()
    key = ApiKey(
        key_id="key_" + secrets.token_hex(8),
        name=name,
        digest=digest(token),
        scopes=tuple(dict.fromkeys(scopes)),
        models=tuple(dict.fromkeys(models)),
        created_at=utcnow(),
    )
    return token, key


MIN_TOKEN_LENGTH = 32


def keys_from_file(path: str) -> tuple[ApiKey, ...]:
    """Keys from a file of lines ``name scopes key [models]`` (``#`` starts a comment).

    ``key`` is the key itself or ``sha256:<hex digest>`` of it (then the file
    holds no key at all: ``printf %s "$KEY" | sha256sum``).

    Only digests are kept. A short key, an unknown scope or a malformed line is a
    :class:`~driftd.errors.ConfigError` naming the line, never the key.
    """
    from pathlib import Path

    from driftd.errors import ConfigError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError([("api.keys_path", path, f"cannot read it ({exc.strerror})")]) from None
    keys = []
    for number, line in enumerate(lines, 1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        where = f"{path} line {number}"
        if len(parts) not in (3, 4):
            raise ConfigError([("api.keys_path", where, "expected 'name scopes key [models]'")])
        name, scopes, token = parts[:3]
        models = parts[3].split(",") if len(parts) == 4 else []
        given_digest = token.removeprefix("sha256:") if token.startswith("sha256:") else None
        if given_digest is not None and not re.fullmatch(r"[0-9a-f]{64}", given_digest):
            raise ConfigError([("api.keys_path", where, "sha256: needs 64 lower-case hex digits")])
        if given_digest is None and len(token) < MIN_TOKEN_LENGTH:
            fix = f"use a key of at least {MIN_TOKEN_LENGTH} random characters"
            raise ConfigError([("api.keys_path", where, fix)])
        try:
            _check(name, scopes.split(","), models)
        except ValueError as exc:
            raise ConfigError([("api.keys_path", where, str(exc))]) from None
        keys.append(
            ApiKey(
                key_id=f"file:{name}",
                name=name,
                digest=given_digest or digest(token),
                scopes=tuple(scopes.split(",")),
                models=tuple(models),
                created_at=utcnow(),
            )
        )
    return tuple(keys)


class MemoryApiKeys:
    """In-memory :class:`ApiKeyStore` (tests, the embedded demo)."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def create(
        self, name: str, scopes: Sequence[str], models: Sequence[str] = ()
    ) -> tuple[str, ApiKey]:
        token, key = _new(name, scopes, models)
        self._keys[key.key_id] = key
        return token, key

    def active(self) -> list[ApiKey]:
        return [k for k in self._keys.values() if k.revoked_at is None]

    def list(self) -> list[ApiKey]:
        return list(self._keys.values())

    def revoke(self, key_id: str) -> bool:
        key = self._keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._keys[key_id] = replace(key, revoked_at=utcnow())
        return True


class SqlApiKeys:
    """:class:`ApiKeyStore` in the control store's ``api_keys`` table (schema step 3)."""

    def __init__(self, control: ControlStore) -> None:
        self.control = control
        table = ApiKeyRow.__table__
        assert isinstance(table, Table)
        self.table = table

    def create(
        self, name: str, scopes: Sequence[str], models: Sequence[str] = ()
    ) -> tuple[str, ApiKey]:
        token, key = _new(name, scopes, models)
        row = {
            "key_id": key.key_id,
            "digest": key.digest,
            "name": key.name,
            "scopes": ",".join(key.scopes),
            "models": ",".join(key.models),
            "created_at": key.created_at,
        }
        with self.control._tx("create API key") as conn:
            conn.execute(self.table.insert().values(row))
        return token, key

    def _select(self, active_only: bool) -> list[ApiKey]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
        if active_only:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        with self.control._tx("read API keys") as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ApiKey(
                key_id=r["key_id"],
                name=r["name"],
                digest=r["digest"],
                scopes=tuple(s for s in r["scopes"].split(",") if s),
                models=tuple(m for m in r["models"].split(",") if m),
                created_at=r["created_at"],
                revoked_at=r["revoked_at"],
            )
            for r in rows
        ]

    def active(self) -> list[ApiKey]:
        return self._select(active_only=True)

    def list(self) -> list[ApiKey]:
        return self._select(active_only=False)

    def revoke(self, key_id: str) -> bool:
        stmt = (
            update(self.table)
            .where(self.table.c.key_id == key_id, self.table.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        with self.control._tx("revoke API key") as conn:
            return conn.execute(stmt).rowcount == 1


if TYPE_CHECKING:

    def _conforms(a: MemoryApiKeys, b: SqlApiKeys) -> tuple[ApiKeyStore, ApiKeyStore]:
        return a, b
