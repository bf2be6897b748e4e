"""The control store: small, transactional state in SQLite or PostgreSQL.

SQLite (``sqlite:///var/lib/driftd/control.db``) for a sidecar, PostgreSQL
(``postgresql+psycopg://user@host/db``) for a central service. Tables and their
versions are in :mod:`driftd.storage.control_schema`; this module holds the
engine setup and one section of methods per table. Upserts use each dialect's
``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Connection, Engine, Table, create_engine, delete, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from driftd.errors import StorageError
from driftd.storage.control_alerts import AlertTables
from driftd.storage.control_schema import (
    CONTROL_SCHEMA_VERSION,
    STEPS,
    Checkpoint,
    ModelRow,
    SchemaVersion,
    utcnow,
)
from driftd.storage.faults import storage_error

if TYPE_CHECKING:
    from driftd.storage.base import ControlStoreProtocol

__all__ = ["ControlStore"]

logger = logging.getLogger(__name__)

_DIALECTS = ("sqlite", "postgresql")
_MIGRATE_LOCK = 0x64726966  # pg_advisory_xact_lock key: one migrator at a time
_CHUNK = 500  # rows per multi-row INSERT (SQLite caps bound parameters)


def _sqlite_setup(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, and transactions SQLAlchemy controls (DDL included)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # stop pysqlite's own BEGIN/COMMIT
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


class ControlStore(AlertTables):
    """SQLAlchemy-backed :class:`~driftd.storage.base.ControlStoreProtocol`.

    >>> store = ControlStore("sqlite://")
    >>> store.migrate()
    3
    >>> store.save_checkpoints({"psi/credit-risk/0": '{"n": 10}'})
    >>> store.load_checkpoint("psi/credit-risk/0")
    '{"n": 10}'
    >>> store.close()
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 5_000) -> None:
        if busy_timeout_ms < 0:
            raise ValueError(f"busy_timeout_ms must be >= 0, got {busy_timeout_ms}")
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise ValueError(f"url is not a usable database URL: {exc}") from exc
        if engine.dialect.name not in _DIALECTS:
            engine.dispose()
            raise ValueError(f"url must be sqlite or postgresql, got {engine.dialect.name!r}")
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine, busy_timeout_ms)
        self.url = engine.url.render_as_string(hide_password=True)
        self.busy_timeout_ms = busy_timeout_ms
        self.engine = engine
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        """One transaction; any database failure becomes :class:`StorageError`."""
        if self._closed:
            raise StorageError(f"control store {what} failed: the store is closed")
        try:
            with self.engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, UnicodeError, TypeError, OverflowError) as exc:
            # classified: a locked SQLite file or a refused connection is an outage
            # (retried); a value the database refuses is the data's fault
            raise storage_error(f"control store {what} ({self.url})", exc) from exc

    def _dialect(self) -> str:
        return str(self.engine.dialect.name)

    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], update: tuple[str, ...]
    ) -> None:
        """INSERT ... ON CONFLICT (primary key) DO UPDATE ``update`` / DO NOTHING."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        key = [c.name for c in table.primary_key.columns]
        for start in range(0, len(rows), _CHUNK):
            stmt = insert(table).values(rows[start : start + _CHUNK])
            if update:
                stmt = stmt.on_conflict_do_update(
                    index_elements=key, set_={c: stmt.excluded[c] for c in update}
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=key)
            conn.execute(stmt)

    # --- lifecycle ---------------------------------------------------------------

    def migrate(self) -> int:
        """Create what is missing, version by version, in one transaction; return the version."""
        with self._tx("migrate") as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
            version_table = SchemaVersion.__table__
            assert isinstance(version_table, Table)
            version_table.create(conn, checkfirst=True)
            current = conn.scalar(select(SchemaVersion.version).where(SchemaVersion.id == 1)) or 0
            if current > CONTROL_SCHEMA_VERSION:
                logger.warning(
                    "control schema version %d is newer than this driftd's %d",
                    current,
                    CONTROL_SCHEMA_VERSION,
                )
                return current
            # Every step, not only those above ``current``: steps numbered on separate
            # branches (2 and 3) may have been recorded out of order; creating with
            # checkfirst makes each missing table and leaves the others alone.
            for version in sorted(STEPS):
                for table in STEPS[version]:
                    table.create(conn, checkfirst=True)
            row = {"id": 1, "version": CONTROL_SCHEMA_VERSION, "updated_at": utcnow()}
            self._upsert(conn, version_table, [row], ("version", "updated_at"))
        return CONTROL_SCHEMA_VERSION

    def ping(self) -> None:
        """Answer, or raise. On SQLite, also take the write lock for a moment: in WAL mode
        reads go through while another process holds the file locked, but every write
        (checkpoints) waits, and readiness must see that."""
        with self._tx("ping") as conn:
            conn.execute(text("SELECT 1"))
            if self.engine.dialect.name == "sqlite":
                # a write statement that changes nothing still takes the write lock
                conn.execute(text("UPDATE control_schema_version SET id = id WHERE 0"))

    def close(self) -> None:
        """Close the pool's connections; later calls raise :class:`StorageError`."""
        self._closed = True
        self.engine.dispose()

    # --- models ------------------------------------------------------------------

    def upsert_model(self, name: str) -> None:
        """Register a model; an existing one is left as it is."""
        if not name:
            raise ValueError("name must be non-empty")
        table = ModelRow.__table__
        assert isinstance(table, Table)
        with self._tx("upsert model") as conn:
            self._upsert(conn, table, [{"name": name, "created_at": utcnow()}], ())

    def list_models(self) -> list[str]:
        with self._tx("list models") as conn:
            return list(conn.scalars(select(ModelRow.name).order_by(ModelRow.name)))

    # --- checkpoints -------------------------------------------------------------

    def save_checkpoints(self, states: Mapping[str, str]) -> None:
        """Store every ``key → state`` (JSON text) in one transaction."""
        if not states:
            return
        now = utcnow()
        rows = [{"key": k, "state": v, "updated_at": now} for k, v in states.items()]
        table = Checkpoint.__table__
        assert isinstance(table, Table)
        with self._tx("save checkpoints") as conn:
            self._upsert(conn, table, rows, ("state", "updated_at"))

    def load_checkpoint(self, key: str) -> str | None:
        with self._tx("load checkpoint") as conn:
            return conn.scalar(select(Checkpoint.state).where(Checkpoint.key == key))

    def delete_checkpoint(self, key: str) -> None:
        """Forget ``key``; a missing key is not an error."""
        with self._tx("delete checkpoint") as conn:
            conn.execute(delete(Checkpoint).where(Checkpoint.key == key))


if TYPE_CHECKING:

    def _conforms(store: ControlStore) -> ControlStoreProtocol:
        return store
