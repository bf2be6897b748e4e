"""The alerting half of the SQL control store (tables of schema version 2).

Mixed into :class:`driftd.storage.control.ControlStore`. Compare-and-set
writes (``version``), the unique outbox key and one transaction per decision
keep several collectors from raising one alert twice or queueing one message
twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from driftd.storage.alert_records import (
    AlertGroupRecord,
    AlertRecord,
    DeliveryAttempt,
    Matcher,
    OutboxRecord,
    SilenceRecord,
)
from driftd.storage.control_schema import (
    AlertGroupRow,
    AlertRow,
    CooldownRow,
    DeliveryAttemptRow,
    OutboxRow,
    SilenceRow,
)

__all__ = ["AlertTables"]

_JSON_FIELDS = frozenset({"labels", "annotations", "detail", "notified", "matchers"})


def _tbl(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def to_row(record: Any) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    for name in _JSON_FIELDS & row.keys():
        value = row[name]
        if name == "matchers":
            value = [dataclasses.asdict(m) for m in value]
        row[name] = json.dumps(value, sort_keys=True)
    return row


def from_row(cls: Any, row: Any) -> Any:
    data = dict(row._mapping)
    if cls is DeliveryAttempt:
        del data["id"]
    for name in _JSON_FIELDS & data.keys():
        data[name] = json.loads(data[name])
    if "matchers" in data:
        data["matchers"] = [Matcher(**m) for m in data["matchers"]]
    return cls(**data)


class AlertTables:
    """Methods of :class:`~driftd.storage.base.AlertStoreProtocol` over SQLAlchemy."""

    def _tx(self, what: str) -> AbstractContextManager[Connection]:
        """One transaction (the control store this mixes into provides it)."""
        raise NotImplementedError

    def _dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (provided by the control store)."""
        raise NotImplementedError

    def _insert_ignore(self, conn: Connection, table: Table, row: dict[str, Any]) -> bool:
        ins = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        pk = next(iter(table.primary_key.columns))
        stmt = ins(table).values(row).on_conflict_do_nothing().returning(pk)
        # psycopg reports no rowcount for INSERT ... ON CONFLICT: count the returned keys
        return conn.execute(stmt).first() is not None

    def _cas(self, conn: Connection, table: Table, pk: str, record: Any) -> bool:
        return self._cas_all(conn, table, pk, [record])[0]

    def _cas_all(
        self, conn: Connection, table: Table, pk: str, records: Sequence[Any]
    ) -> list[bool]:
        """Insert (version 0) or update each row still at ``record.version``; bump it.

        The two statements are built once and executed per record with its
        parameters (SQLAlchemy then compiles each once, not once per row).
        """
        ins = postgresql.insert if self._dialect() == "postgresql" else sqlite.insert
        names = [c.name for c in table.columns]
        values: dict[str, Any] = {n: bindparam(f"v_{n}") for n in names}
        insert_stmt = ins(table).values(values).on_conflict_do_nothing().returning(table.c[pk])
        update_stmt = (
            update(table)
            .where(table.c[pk] == bindparam("w_pk"), table.c.version == bindparam("w_version"))
            .values(values)
        )
        done: list[bool] = []
        for record in records:
            row = to_row(record)
            row["version"] = record.version + 1
            params = {f"v_{n}": row[n] for n in names}
            if record.version == 0:
                ok = conn.execute(insert_stmt, params).first() is not None
            else:
                params.update(w_pk=row[pk], w_version=record.version)
                ok = conn.execute(update_stmt, params).rowcount == 1
            if ok:
                record.version += 1
            done.append(ok)
        return done

    # --- alerts --------------------------------------------------------------------

    def list_alerts(self, states: Collection[str] | None = None) -> list[AlertRecord]:
        stmt = select(AlertRow.__table__).order_by(AlertRow.active_ms, AlertRow.fingerprint)
        if states is not None:
            stmt = stmt.where(AlertRow.state.in_(list(states)))
        with self._tx("list alerts") as conn:
            return [from_row(AlertRecord, r) for r in conn.execute(stmt)]

    def put_alert(self, alert: AlertRecord) -> bool:
        return self.put_alerts([alert])[0]

    def put_alerts(self, alerts: Sequence[AlertRecord]) -> list[bool]:
        with self._tx("put alerts") as conn:
            return self._cas_all(conn, _tbl(AlertRow), "fingerprint", alerts)

    # --- groups --------------------------------------------------------------------

    def list_groups(self) -> list[AlertGroupRecord]:
        with self._tx("list groups") as conn:
            rows = conn.execute(select(AlertGroupRow.__table__).order_by(AlertGroupRow.key))
            return [from_row(AlertGroupRecord, r) for r in rows]

    def put_group(
        self, group: AlertGroupRecord, queue: Sequence[OutboxRecord] = (), *, drop: bool = False
    ) -> bool:
        table = _tbl(AlertGroupRow)
        with self._tx("put group") as conn:
            if drop:
                stmt = delete(table).where(
                    table.c.key == group.key, table.c.version == group.version
                )
                if conn.execute(stmt).rowcount != 1:
                    return False
            elif not self._cas(conn, table, "key", group):
                return False
            for item in queue:
                self._insert_ignore(conn, _tbl(OutboxRow), to_row(item))
            return True

    # --- silences ------------------------------------------------------------------

    def put_silence(self, silence: SilenceRecord) -> None:
        with self._tx("put silence") as conn:
            conn.execute(insert(_tbl(SilenceRow)).values(to_row(silence)))

    def list_silences(self) -> list[SilenceRecord]:
        with self._tx("list silences") as conn:
            rows = conn.execute(select(SilenceRow.__table__).order_by(SilenceRow.created_ms))
            return [from_row(SilenceRecord, r) for r in rows]

    def expire_silence(self, silence_id: str, now_ms: int) -> bool:
        table = _tbl(SilenceRow)
        stmt = (
            update(table)
            .where(table.c.id == silence_id, table.c.ends_ms > now_ms)
            .values(ends_ms=now_ms)
        )
        with self._tx("expire silence") as conn:
            return conn.execute(stmt).rowcount == 1

    # --- outbox --------------------------------------------------------------------

    def enqueue(self, items: Sequence[OutboxRecord]) -> int:
        with self._tx("enqueue") as conn:
            return sum(self._insert_ignore(conn, _tbl(OutboxRow), to_row(i)) for i in items)

    def trigger_webhook(self, cooldown_key: str, cooldown_ms: int, item: OutboxRecord) -> bool:
        table = _tbl(CooldownRow)
        now = item.created_ms
        with self._tx("trigger webhook") as conn:
            if conn.scalar(select(OutboxRow.id).where(OutboxRow.key == item.key)) is not None:
                return False
            row = {"key": cooldown_key, "last_ms": now}
            if not self._insert_ignore(conn, table, row):
                stmt = (
                    update(table)
                    .where(table.c.key == cooldown_key, table.c.last_ms <= now - cooldown_ms)
                    .values(last_ms=now)
                )
                if conn.execute(stmt).rowcount != 1:
                    return False
            return self._insert_ignore(conn, _tbl(OutboxRow), to_row(item))

    def claim_outbox(self, now_ms: int, lease_ms: int, limit: int = 50) -> list[OutboxRecord]:
        """One ``UPDATE ... RETURNING``: the write comes first, so SQLite takes its lock
        before reading (no stale snapshot to upgrade) and PostgreSQL re-checks the
        lease on rows another claimer changed meanwhile."""
        table = _tbl(OutboxRow)
        due = (
            select(table.c.id)
            .where(
                table.c.state == "pending",
                table.c.next_attempt_ms <= now_ms,
                table.c.claimed_until_ms <= now_ms,
            )
            .order_by(table.c.next_attempt_ms)
            .limit(limit)
        )
        stmt = (
            update(table)
            .where(table.c.id.in_(due.scalar_subquery()), table.c.claimed_until_ms <= now_ms)
            .values(claimed_until_ms=now_ms + lease_ms)
            .returning(*table.columns)
        )
        with self._tx("claim outbox") as conn:
            claimed = [from_row(OutboxRecord, r) for r in conn.execute(stmt)]
        return sorted(claimed, key=lambda o: (o.next_attempt_ms, o.id))

    def finish_attempt(self, item: OutboxRecord, attempt: DeliveryAttempt) -> None:
        table = _tbl(OutboxRow)
        row = to_row(item)
        row["claimed_until_ms"] = 0
        with self._tx("record delivery") as conn:
            conn.execute(update(table).where(table.c.id == item.id).values(row))
            data = dataclasses.asdict(attempt)
            conn.execute(insert(_tbl(DeliveryAttemptRow)).values(data))

    def list_outbox(
        self, kind: str | None = None, limit: int = 100, outbox_id: str | None = None
    ) -> list[OutboxRecord]:
        stmt = select(OutboxRow.__table__).order_by(OutboxRow.created_ms.desc()).limit(limit)
        if kind is not None:
            stmt = stmt.where(OutboxRow.kind == kind)
        if outbox_id is not None:
            stmt = stmt.where(OutboxRow.id == outbox_id)
        with self._tx("list outbox") as conn:
            return [from_row(OutboxRecord, r) for r in conn.execute(stmt)]

    def list_attempts(self, outbox_id: str) -> list[DeliveryAttempt]:
        stmt = (
            select(DeliveryAttemptRow.__table__)
            .where(DeliveryAttemptRow.outbox_id == outbox_id)
            .order_by(DeliveryAttemptRow.attempt)
        )
        with self._tx("list attempts") as conn:
            return [from_row(DeliveryAttempt, r) for r in conn.execute(stmt)]

    def redeliver(self, outbox_id: str, now_ms: int) -> bool:
        table = _tbl(OutboxRow)
        stmt = (
            update(table)
            .where(table.c.id == outbox_id)
            .values(state="pending", next_attempt_ms=now_ms, claimed_until_ms=0)
        )
        with self._tx("redeliver") as conn:
            return conn.execute(stmt).rowcount == 1
