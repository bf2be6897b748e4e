"""Control-store tables (SQLAlchemy 2 declarative, SQLite and PostgreSQL alike).

Versioning is a single row in ``control_schema_version``. :data:`STEPS` maps
each version to the tables it creates; a later version that changes a table
adds its own step (``ALTER``) here. Steps only create tables, and migrating
creates every step's missing tables whatever the recorded version, so steps
numbered on separate branches apply in order after a merge. Alert state,
silences and the webhook outbox each add a table and a step; API keys are
step 3.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CONTROL_SCHEMA_VERSION",
    "STEPS",
    "ApiKeyRow",
    "Base",
    "Checkpoint",
    "ModelRow",
    "SchemaVersion",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The control store's tables."""


class SchemaVersion(Base):
    """One row (``id = 1``): the schema version applied."""

    __tablename__ = "control_schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelRow(Base):
    """A model driftd knows about."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class Checkpoint(Base):
    """Serialized state (JSON text) of one detector/collector unit, by key."""

    __tablename__ = "checkpoints"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKeyRow(Base):
    """An API key: its SHA-256 digest (never the key), scopes and optional models."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(String(64))  # comma-separated: ingest,read,admin
    models: Mapped[str] = mapped_column(Text, default="")  # comma-separated; "" = every model
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# version → tables that version creates, applied in order.
STEPS: dict[int, tuple[Table, ...]] = {
    1: (_table(ModelRow), _table(Checkpoint)),
    3: (_table(ApiKeyRow),),
}
CONTROL_SCHEMA_VERSION = max(STEPS)
