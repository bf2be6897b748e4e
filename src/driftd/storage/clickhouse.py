"""The data plane: raw events, baselines and drift metrics in ClickHouse.

One code path for embedded chDB (``chdb:///var/lib/driftd/clickhouse``; one
process per directory) and a ClickHouse server
(``http://user:pass@host:8123/db``). Every table lives in ``database`` (the
URL's own database only sets the session default). Schema: see
:mod:`driftd.storage.migrations`.

Each write is one insert call (~20 ms fixed cost: batch ~10k rows) and, below
ClickHouse's squashing limits (~1M rows / 256 MB), forms one part: it is
all-or-nothing. Outcomes are two, the join table first (see
:meth:`EventStore.insert_outcomes`). A repeated ``dedup_token`` (or an identical
batch without one) within the last 10,000 inserts of a table is a no-op:
derive the token from what the batch is (e.g. topic/partition/first-last
offset), never from the time it is sent.

Example (not run here: chDB allows one data directory per process)::

    store = EventStore.connect("chdb:///var/lib/driftd/clickhouse")
    store.migrate()
    store.insert_predictions(records, dedup_token="driftd.predictions/0/100-199")
    store.close()
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit, urlunsplit

import clickhouse_connect
import pyarrow as pa

from driftd.batch import PredictionBatch
from driftd.errors import BaselineNotFoundError, StorageError, StorageUnavailableError
from driftd.events import OutcomeRecord, PredictionRecord
from driftd.storage import columns as cols
from driftd.storage import migrations
from driftd.storage.base import EventKind, as_batch
from driftd.storage.faults import storage_error
from driftd.storage.heap import HeapTrimmer
from driftd.storage.migrations import RAW_EVENT_TABLES
from driftd.storage.records import (
    DriftMetric,
    LabelledPrediction,
    LabelledWindow,
    StoredBaseline,
    StoredDeadLetter,
    baseline_conflict,
    profile_outline,
)

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from driftd.storage.base import EventStoreProtocol

__all__ = ["EventStore"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_BASELINE_COLUMNS = "model, version, fingerprint, n_rows, toUnixTimestamp64Milli(created_at)"


def embedded_heap(url: str) -> HeapTrimmer | None:
    """For embedded chDB (ClickHouse in this process, sharing its C heap), a running
    :class:`~driftd.storage.heap.HeapTrimmer`; None for a ClickHouse server."""
    return HeapTrimmer().start() if url.startswith("chdb:") else None


def redact(url: str) -> str:
    """The URL without its password, for messages and logs.

    >>> redact("http://user:secret@host:8123/db")
    'http://user:***@host:8123/db'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


_LAYOUTS_KEPT = 10_000
"""Feature layouts a store remembers as written (a stream of ever new patterns of sent
features must not grow it without bound)."""

_IN_WINDOW = (
    "model = {model:String} "
    "AND timestamp >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
    "AND timestamp < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
)
"""The predictions of one model with ``lo <= timestamp < hi``."""


class EventStore:
    """ClickHouse (server or embedded chDB) behind the :class:`EventStoreProtocol` shape.

    Thread-safe: calls are serialized on one client (a ClickHouse HTTP session
    takes one query at a time; chDB serializes anyway).
    """

    def __init__(
        self,
        client: Client,
        database: str = "driftd",
        raw_ttl_days: int = 30,
        heap: HeapTrimmer | None = None,
    ) -> None:
        _validate(database, raw_ttl_days)
        self.client = client
        self.database = database
        self.raw_ttl_days = raw_ttl_days
        self.heap = heap  # stopped by close()
        self._lock = threading.Lock()
        self._layouts: set[int] = set()  # feature layouts known to be stored

    @classmethod
    def connect(cls, url: str, database: str = "driftd", raw_ttl_days: int = 30) -> Self:
        """Open a client for ``url``; raise :class:`StorageError` if that fails."""
        _validate(database, raw_ttl_days)
        try:
            client = clickhouse_connect.get_client(dsn=url)
        except Exception as exc:
            raise StorageError(f"cannot connect to ClickHouse at {redact(url)}: {exc}") from exc
        return cls(client, database, raw_ttl_days, heap=embedded_heap(url))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _call(self, what: str) -> Iterator[Client]:
        with self._lock:
            try:
                yield self.client
            except StorageError:
                raise
            except Exception as exc:
                raise storage_error(f"ClickHouse {what}", exc) from exc

    def _rows(self, what: str, sql: str, **params: Any) -> list[Sequence[Any]]:
        bound = {name: value for name, value in params.items() if value is not None}
        with self._call(what) as client:
            return list(client.query(sql, parameters=bound).result_rows)

    def _insert(
        self, table: str, spec: cols.ColumnSpec, data: list[list[Any]], token: str | None
    ) -> None:
        with self._call(f"insert into {table}") as client:
            _insert(client, f"{self.database}.{table}", spec, data, token)

    def _insert_table(self, table: str, arrow: pa.Table, token: str | None) -> None:
        with self._call(f"insert into {table}") as client:
            _insert_arrow(client, f"{self.database}.{table}", arrow, token)

    # --- lifecycle ---------------------------------------------------------------

    def ping(self) -> None:
        with self._call("ping") as client:
            alive = client.ping()
        if not alive:
            raise StorageUnavailableError("ClickHouse ping failed: server unreachable")

    def close(self) -> None:
        if self.heap is not None:
            self.heap.stop()
        with self._call("close") as client:
            client.close()

    def migrate(self) -> int:
        """Apply pending migrations in order, align the raw-event TTL; return the version."""
        with self._call("migrate") as client:
            return migrations.apply(client, db=self.database, ttl_days=self.raw_ttl_days)

    # --- writes ------------------------------------------------------------------

    def insert_predictions(
        self, records: PredictionBatch | Sequence[PredictionRecord], dedup_token: str | None = None
    ) -> None:
        """One Arrow insert, its maps and arrays built per column (see
        :func:`~driftd.storage.columns.prediction_arrow`), after the feature layouts
        that this store has not written yet (see :mod:`~driftd.storage.migrations`,
        version 6): a row is never stored before the layout that names its values."""
        if not len(records):
            return
        with self._call("insert into predictions"):  # a value Arrow refuses is the data's fault
            rows = cols.prediction_arrow(as_batch(records))
        new = {key: layout for key, layout in rows.layouts.items() if key not in self._layouts}
        if new:
            data = cols.feature_layout_columns(new)
            self._insert("feature_layouts", cols.FEATURE_LAYOUT_COLUMNS, data, None)
            if len(self._layouts) + len(new) > _LAYOUTS_KEPT:  # writing one again is harmless
                self._layouts.clear()
            self._layouts.update(new)
        self._insert_table("predictions", rows.table, dedup_token)

    def insert_outcomes(
        self, records: Sequence[OutcomeRecord], dedup_token: str | None = None
    ) -> None:
        """Two inserts, ``outcomes_latest`` (the join) first, then ``outcomes`` (the
        collector's stored high-water mark): a failure between them leaves the batch
        unstored by that mark, so it is written again, and a repeat collapses in the
        join. See :mod:`~driftd.storage.migrations`, version 5.

        The join's token also names the batch's rows: the collector's token names only
        its first and last offsets, and a batch written again after such a failure may
        hold more of the rows between them (an event dead-lettered the first time, its
        model unknown then): taken for a repeat, those would reach ``outcomes`` only."""
        if not records:
            return
        with self._call("insert into outcomes"):  # a value Arrow refuses is the data's fault
            table = cols.outcome_arrow(records)
        latest = table.select(list(cols.OUTCOME_LATEST_COLUMNS.names))
        token = None if dedup_token is None else f"{dedup_token}/{_rows_digest(records)}"
        self._insert_table("outcomes_latest", latest, token)
        self._insert_table("outcomes", table, dedup_token)

    def insert_drift_metrics(
        self, rows: Sequence[DriftMetric], dedup_token: str | None = None
    ) -> None:
        if rows:
            data = cols.drift_metric_columns(rows)
            self._insert("drift_results", cols.DRIFT_METRIC_COLUMNS, data, dedup_token)

    def insert_dead_letters(self, rows: Sequence[StoredDeadLetter]) -> None:
        if rows:
            data = cols.dead_letter_columns(rows)
            self._insert("dead_letters", cols.DEAD_LETTER_COLUMNS, data, None)

    def read_dead_letters(
        self, from_ms: int, to_ms: int, reason: str | None = None, limit: int = 1_000
    ) -> list[StoredDeadLetter]:
        where = (
            "received_at >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
            "AND received_at < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
        )
        if reason is not None:
            where += " AND reason = {reason:String}"
        rows = self._rows(
            "read dead letters",
            f"SELECT {cols.select_list(cols.DEAD_LETTER_COLUMNS)} "
            f"FROM {self.database}.dead_letters WHERE {where} "
            "ORDER BY received_at DESC LIMIT {limit:UInt32}",
            lo=from_ms,
            hi=to_ms,
            reason=reason,
            limit=limit,
        )
        return [cols.dead_letter_from_row(row) for row in rows]

    # --- event reads -------------------------------------------------------------

    def stored_offsets(
        self, kind: EventKind, topic: str, partitions: Iterable[int]
    ) -> dict[int, int]:
        """Highest stored ``src_offset`` per partition (rows expired by TTL are gone)."""
        wanted = sorted(set(partitions))
        if not wanted:
            return {}
        rows = self._rows(
            "stored offsets",
            f"SELECT src_partition, max(src_offset) FROM {self._table(kind)} "
            "WHERE src_topic = {topic:String} AND has({parts:Array(Int32)}, src_partition) "
            "GROUP BY src_partition",
            topic=topic,
            parts=wanted,
        )
        return {int(p): int(o) for p, o in rows}

    def read_predictions(self, model: str, from_ms: int, to_ms: int) -> list[PredictionRecord]:
        rows = self._rows(
            "read predictions",
            _range_select(
                cols.select_list(cols.PREDICTION_COLUMNS), f"{self.database}.prediction_features"
            ),
            model=model,
            lo=from_ms,
            hi=to_ms,
        )
        return [cols.prediction_from_row(row) for row in rows]

    def read_outcomes(self, model: str, from_ms: int, to_ms: int) -> list[OutcomeRecord]:
        rows = self._rows(
            "read outcomes",
            _range_select(cols.select_list(cols.OUTCOME_COLUMNS), f"{self.database}.outcomes"),
            model=model,
            lo=from_ms,
            hi=to_ms,
        )
        return [cols.outcome_from_row(row) for row in rows]

    # --- outcome join --------------------------------------------------------------

    def read_labelled(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int
    ) -> list[LabelledPrediction]:
        return self._joined(model, from_ms, to_ms, horizon_ms, "LEFT")

    def read_window(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int, segment_keys: Sequence[str]
    ) -> LabelledWindow:
        keys = list(dict.fromkeys(segment_keys))
        # the join first: a prediction stored between the two reads is then counted, never
        # labelled but not counted (and its window is recomputed at the next scan)
        labelled = self._joined(model, from_ms, to_ms, horizon_ms, "INNER")
        # per index into [total] + keys: the count of each value, in first appearance order
        rows = self._rows(
            "count window predictions",
            "SELECT i, if(i = 0, '', segments[{keys:Array(String)}[greatest(i, 1)]]) AS v, "
            "count() FROM (SELECT timestamp, event_id, segments "
            f"FROM {self.database}.predictions WHERE {_IN_WINDOW} LIMIT 1 BY event_id) "
            "ARRAY JOIN arrayFilter(x -> x = 0 OR mapContains(segments, "
            "{keys:Array(String)}[greatest(x, 1)]), "
            "range(toUInt64(length({keys:Array(String)}) + 1))) AS i "
            "GROUP BY i, v ORDER BY i, min((timestamp, event_id))",
            model=model,
            lo=from_ms,
            hi=to_ms,
            keys=keys,
        )
        total = 0
        segments: dict[str, list[tuple[str, int]]] = {key: [] for key in keys}
        for i, value, n in rows:
            if i == 0:
                total = int(n)
            else:
                segments[keys[int(i) - 1]].append((value, int(n)))
        return LabelledWindow(labelled, total, segments)

    def _joined(
        self, model: str, from_ms: int, to_ms: int, horizon_ms: int, join: str
    ) -> list[LabelledPrediction]:
        """The window's predictions joined to their latest outcomes: all of them
        (``LEFT``) or only the labelled ones (``INNER``)."""
        db = self.database
        latest = "(timestamp, event_id)"
        rows = self._rows(
            "read labelled predictions",
            "SELECT toUnixTimestamp64Milli(p.timestamp), p.request_id, p.pred_num, p.pred_label, "
            "p.pred_proba, p.segments, o.num, o.label, o.received FROM ("
            "SELECT timestamp, event_id, request_id, pred_num, pred_label, pred_proba, segments "
            f"FROM {db}.predictions WHERE {_IN_WINDOW} LIMIT 1 BY event_id) AS p "
            f"{join} JOIN ("
            f"SELECT request_id, argMax(outcome_num, {latest}) AS num, "
            f"argMax(outcome_label, {latest}) AS label, "
            f"toUnixTimestamp64Milli(argMax(received_at, {latest})) AS received "
            f"FROM {db}.outcomes_latest WHERE model = {{model:String}} "
            "AND received_at < fromUnixTimestamp64Milli({until:Int64}, 'UTC') "
            f"AND request_id IN (SELECT request_id FROM {db}.predictions WHERE {_IN_WINDOW} "
            "AND request_id != '') GROUP BY request_id"
            ") AS o ON p.request_id = o.request_id "
            "ORDER BY p.timestamp, p.event_id SETTINGS join_use_nulls = 1",
            model=model,
            lo=from_ms,
            hi=to_ms,
            until=to_ms + horizon_ms,
        )
        return [
            LabelledPrediction(
                int(ts),
                rid,
                pnum,
                plabel,
                dict(proba),
                dict(seg),
                onum,
                olabel or "",
                None if received is None else int(received),
            )
            for ts, rid, pnum, plabel, proba, seg, onum, olabel, received in rows
        ]

    def find_predictions(
        self, model: str, request_ids: Sequence[str], from_ms: int
    ) -> list[LabelledPrediction]:
        wanted = sorted({r for r in request_ids if r})
        if not wanted:
            return []
        rows = self._rows(
            "find predictions",
            "SELECT toUnixTimestamp64Milli(timestamp), request_id, pred_num, pred_label, "
            f"pred_proba, segments FROM {self.database}.predictions "
            "WHERE model = {model:String} AND request_id IN {ids:Array(String)} "
            "AND timestamp >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
            "ORDER BY timestamp, event_id LIMIT 1 BY request_id",
            model=model,
            ids=wanted,
            lo=from_ms,
        )
        return [
            LabelledPrediction(int(ts), rid, num, label, dict(proba), dict(seg))
            for ts, rid, num, label, proba, seg in rows
        ]

    def touched_windows(
        self, model: str, received_from_ms: int, not_before_ms: int, window_ms: int
    ) -> list[int]:
        if window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {window_ms}")
        db = self.database
        since = "received_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
        rows = self._rows(
            "touched windows",
            "SELECT DISTINCT intDiv(toUnixTimestamp64Milli(timestamp), {w:Int64}) * {w:Int64} "
            f"AS start FROM {db}.predictions WHERE model = {{model:String}} "
            "AND timestamp >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
            f"AND ({since} OR (request_id != '' AND request_id IN ("
            f"SELECT request_id FROM {db}.outcomes_latest WHERE model = {{model:String}} "
            f"AND {since}))) ORDER BY start",
            model=model,
            since=received_from_ms,
            lo=not_before_ms,
            w=window_ms,
        )
        return [int(row[0]) for row in rows]

    def count(self, kind: EventKind, model: str | None = None) -> int:
        return self._scalar("count", "count()", kind, model)

    def count_distinct_event_ids(self, kind: EventKind, model: str | None = None) -> int:
        return self._scalar("count distinct", "uniqExact(event_id)", kind, model)

    def _scalar(self, what: str, expr: str, kind: EventKind, model: str | None) -> int:
        where = "" if model is None else " WHERE model = {model:String}"
        rows = self._rows(what, f"SELECT {expr} FROM {self._table(kind)}{where}", model=model)
        return int(rows[0][0])

    def _table(self, kind: EventKind) -> str:
        if kind not in RAW_EVENT_TABLES:
            raise ValueError(f"kind must be one of {RAW_EVENT_TABLES}, got {kind!r}")
        return f"{self.database}.{kind}"

    def list_models(self) -> list[str]:
        """Models with a baseline or a stored prediction, sorted."""
        db = self.database
        rows = self._rows(
            "list models",
            f"SELECT model FROM (SELECT DISTINCT model FROM {db}.baselines UNION DISTINCT "
            f"SELECT DISTINCT model FROM {db}.predictions) ORDER BY model",
        )
        return [str(row[0]) for row in rows]

    # --- baselines ---------------------------------------------------------------

    def put_baseline(
        self,
        model: str,
        version: str,
        fingerprint: str,
        n_rows: int,
        created_ms: int,
        profile_json: str,
    ) -> bool:
        """Store a baseline once: identical again → False, different data → error."""
        if not model or not version or not fingerprint:
            raise ValueError("model, version and fingerprint must be non-empty")
        with self._call("put baseline") as client:
            existing = client.query(
                f"SELECT fingerprint FROM {self.database}.baselines "
                "WHERE model = {model:String} AND version = {version:String} LIMIT 1",
                parameters={"model": model, "version": version},
            ).result_rows
            if not existing:
                data: list[list[Any]] = [
                    [model],
                    [version],
                    [fingerprint],
                    [n_rows],
                    [created_ms],
                    [profile_json],
                ]
                token = f"baseline/{model}/{version}/{fingerprint}"
                _insert(client, f"{self.database}.baselines", cols.BASELINE_COLUMNS, data, token)
                return True
        stored = str(existing[0][0])
        if stored == fingerprint:
            return False
        raise baseline_conflict(model, version, stored, fingerprint)

    def get_baseline(self, model: str, version: str | None = None) -> StoredBaseline:
        """The baseline ``version`` of ``model``, or its newest (by ``created_ms``)."""
        where = "model = {model:String}" + (
            "" if version is None else " AND version = {version:String}"
        )
        rows = self._rows(
            "get baseline",
            f"SELECT {_BASELINE_COLUMNS}, profile FROM {self.database}.baselines "
            f"WHERE {where} ORDER BY created_at DESC, version DESC LIMIT 1",
            model=model,
            version=version,
        )
        if not rows:
            which = "" if version is None else f" version {version!r}"
            raise BaselineNotFoundError(
                f"no baseline for model {model!r}{which}", model=model, version=version or ""
            )
        return _baseline(rows[0], profile_json=str(rows[0][5]))

    def list_baselines(self, model: str | None = None) -> list[StoredBaseline]:
        """Baselines (all models, or one), by model, newest first; ``profile_json`` outlined.

        The outline keeps the profile's feature names (with empty profiles) and
        whether it has a prediction and a label: enough for a summary, without
        the reference samples that make a full profile large.
        """
        where = "" if model is None else "WHERE model = {model:String}"
        rows = self._rows(
            "list baselines",
            f"SELECT {_BASELINE_COLUMNS}, JSONExtractKeys(profile, 'features'), "
            "JSONType(profile, 'prediction') != 'Null', JSONType(profile, 'label') != 'Null' "
            f"FROM {self.database}.baselines {where} "
            "ORDER BY model, created_at DESC, version DESC LIMIT 1 BY model, version",
            model=model,
        )
        return [
            _baseline(row, profile_json=profile_outline(row[5], row[6], row[7])) for row in rows
        ]

    # --- drift metrics -----------------------------------------------------------

    def query_drift(
        self,
        model: str,
        from_ms: int,
        to_ms: int,
        feature: str | None = None,
        metric: str | None = None,
        *,
        severity: str | None = None,
        baseline_version: str | None = None,
        limit: int | None = None,
    ) -> list[DriftMetric]:
        """Metrics with ``from_ms <= window_end < to_ms``, newest computation of each."""
        where = [
            "model = {model:String}",
            "window_end >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC')",
            "window_end < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')",
        ]
        for name, value in (
            ("feature", feature),
            ("metric", metric),
            ("severity", severity),
            ("baseline_version", baseline_version),
        ):
            if value is not None:
                where.append(f"{name} = {{{name}:String}}")
        rows = self._rows(
            "query drift",
            f"SELECT {cols.select_list(cols.DRIFT_METRIC_COLUMNS)} FROM ("
            f"SELECT * FROM {self.database}.drift_results WHERE {' AND '.join(where)} "
            "ORDER BY window_end DESC, feature DESC, metric DESC, computed_at DESC "
            "LIMIT 1 BY baseline_version, segment, metric, feature, window_id"
            f"{'' if limit is None else f' LIMIT {int(limit)}'}"
            ") ORDER BY window_end, feature, metric",
            model=model,
            lo=from_ms,
            hi=to_ms,
            feature=feature,
            metric=metric,
            severity=severity,
            baseline_version=baseline_version,
        )
        return [cols.drift_metric_from_row(row) for row in rows]

    def latest_drift(self, model: str) -> list[DriftMetric]:
        rows = self._rows(
            "latest drift",
            f"SELECT {cols.select_list(cols.DRIFT_METRIC_COLUMNS)} FROM "
            f"{self.database}.drift_results WHERE model = {{model:String}} "
            "ORDER BY window_id DESC, computed_at DESC "
            "LIMIT 1 BY baseline_version, segment, feature, metric",
            model=model,
        )
        return sorted(
            (cols.drift_metric_from_row(row) for row in rows),
            key=lambda m: (m.feature, m.metric, m.baseline_version, m.segment),
        )


def _insert(
    client: Client, table: str, spec: cols.ColumnSpec, data: list[list[Any]], token: str | None
) -> None:
    """One column-oriented insert; types given, so no DESCRIBE round trip.

    Small tables keep clickhouse-connect's Native insert on chDB too: as Arrow
    (:func:`_insert_arrow`) a 30-row insert cost the collector thread less but
    the process more (bench/README.md, ``chdb_insert_bench.py --drift``).
    """
    client.insert(
        table,
        data,
        column_names=spec.names,
        column_type_names=spec.types,
        column_oriented=True,
        settings={} if token is None else {"insert_deduplication_token": token},
    )


def _insert_arrow(client: Client, table: str, arrow: pa.Table, token: str | None) -> None:
    """One insert of an Arrow table, all-or-nothing and durable when it returns.

    clickhouse-connect's ``insert_arrow`` (on chDB: the Arrow file written to a
    temporary file, then ``INSERT ... FROM INFILE``). Not chDB's streaming
    ``send_insert``, though it cost the collector thread ~0.4 µs a row less:
    in chDB 26.9 an insert the engine refuses there (a violated constraint, too
    many parts) writes nothing and raises nothing, so a batch would be counted
    stored and its offsets committed with none of it written
    (``tests/storage/test_clickhouse.py``, ``docs/decisions.md``).
    """
    settings = {} if token is None else {"insert_deduplication_token": token}
    client.insert_arrow(table, arrow, settings=settings)


def _rows_digest(records: Sequence[OutcomeRecord]) -> str:
    """Which outcomes these are (model, request and event id of each, in order).

    >>> a, b = (OutcomeRecord(e, "m", "r", 1, 1, None, "x") for e in ("a", "b"))
    >>> _rows_digest([a, b]) == _rows_digest([a, b]) != _rows_digest([a])
    True
    """
    h = hashlib.sha256(f"{len(records)}\x01".encode())
    for column in (
        [r.model for r in records],
        [r.request_id for r in records],
        [r.event_id for r in records],
    ):
        h.update("\x00".join(column).encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()[:32]


def _range_select(select: str, table: str) -> str:
    return f"SELECT {select} FROM {table} WHERE {_IN_WINDOW} ORDER BY timestamp, event_id"


def _baseline(row: Sequence[Any], profile_json: str) -> StoredBaseline:
    model, version, fingerprint, n_rows, created_ms = row[:5]
    return StoredBaseline(model, version, fingerprint, int(n_rows), int(created_ms), profile_json)


def _validate(database: str, raw_ttl_days: int) -> None:
    if not _IDENTIFIER.match(database):
        raise ValueError(
            f"database must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {database!r}"
        )
    if raw_ttl_days < 1:
        raise ValueError(f"raw_ttl_days must be >= 1, got {raw_ttl_days}")


if TYPE_CHECKING:

    def _conforms(store: EventStore) -> EventStoreProtocol:
        return store
