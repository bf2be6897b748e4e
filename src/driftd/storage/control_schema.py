"""Control-store tables (SQLAlchemy 2 declarative, SQLite and PostgreSQL alike).

Versioning is a single row in ``control_schema_version``. :data:`STEPS` maps
each version to the tables it creates; a later version that changes a table
adds its own step (``ALTER``) here. Steps only create tables, and migrating
creates every step's missing tables whatever the recorded version, so steps
numbered on separate branches apply in order after a merge. Version 2 adds
alerting (alert state, notification groups, silences, the delivery outbox, its
attempts, webhook cooldowns); version 3 adds API keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CONTROL_SCHEMA_VERSION",
    "STEPS",
    "AlertGroupRow",
    "AlertRow",
    "ApiKeyRow",
    "Base",
    "Checkpoint",
    "CooldownRow",
    "DeliveryAttemptRow",
    "ModelRow",
    "OutboxRow",
    "SchemaVersion",
    "SilenceRow",
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


class AlertRow(Base):
    """An alert (label set → state); see :class:`driftd.storage.alert_records.AlertRecord`."""

    __tablename__ = "alerts"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    labels: Mapped[str] = mapped_column(Text)
    annotations: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    active_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    fired_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_notified_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    am_sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    webhooks_done: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)


class AlertGroupRow(Base):
    """A notification group: one route and the values of the ``group_by`` labels."""

    __tablename__ = "alert_groups"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    route: Mapped[str] = mapped_column(String(128))
    labels: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    next_flush_ms: Mapped[int] = mapped_column(BigInteger)
    last_sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    notified: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class SilenceRow(Base):
    """Label matchers muting alerts between two times."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matchers: Mapped[str] = mapped_column(Text)
    starts_ms: Mapped[int] = mapped_column(BigInteger)
    ends_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class OutboxRow(Base):
    """A notification or webhook call waiting for (another) delivery attempt."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(Text)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claimed_until_ms: Mapped[int] = mapped_column(BigInteger)


class DeliveryAttemptRow(Base):
    """One delivery attempt of an outbox message."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[str] = mapped_column(String(64), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text)


class CooldownRow(Base):
    """When a retraining webhook last fired for a model."""

    __tablename__ = "webhook_cooldowns"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    last_ms: Mapped[int] = mapped_column(BigInteger)


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
    2: tuple(
        _table(m)
        for m in (AlertRow, AlertGroupRow, SilenceRow, OutboxRow, DeliveryAttemptRow, CooldownRow)
    ),
    3: (_table(ApiKeyRow),),
}
CONTROL_SCHEMA_VERSION = max(STEPS)
