"""Records ↔ ClickHouse columns: the insert hot path and the row readers.

Inserts are column-oriented with explicit type names, so clickhouse-connect
neither asks the server for the table's structure nor pivots rows. Times stay
epoch-ms ``int``: for ``DateTime64(3)`` clickhouse-connect writes a Python
``int`` as the raw tick count, so no datetime is ever built on the way in.
Reads select ``toUnixTimestamp64Milli(...)`` for the same reason on the way out.

Predictions, the one high-volume table, go in as Arrow built from a
:class:`~driftd.batch.PredictionBatch` (:func:`prediction_arrow`): its map and
array columns are assembled per column with numpy, where clickhouse-connect
would serialise one dict per event. A row's feature values go in without their
names (``num_values``, ``cat_values``), which are stored once per
:class:`FeatureLayout` (migration 6); reads go through the
``prediction_features`` view, which puts the names back (:data:`PREDICTION_COLUMNS`).

>>> from driftd.events import Coordinates, OutcomeRecord
>>> rec = OutcomeRecord("e1", "m", "r1", 5, 6, 1.0, "", Coordinates("t", 0, 9))
>>> cols = outcome_columns([rec])
>>> dict(zip(OUTCOME_COLUMNS.names, (c[0] for c in cols)))["src_offset"]
9
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from driftd.batch import PredictionBatch
from driftd.events import Coordinates, OutcomeRecord, PredictionRecord
from driftd.storage.records import DriftMetric, StoredDeadLetter

__all__ = [
    "BASELINE_COLUMNS",
    "DEAD_LETTER_COLUMNS",
    "DRIFT_METRIC_COLUMNS",
    "FEATURE_LAYOUT_COLUMNS",
    "OUTCOME_COLUMNS",
    "OUTCOME_LATEST_COLUMNS",
    "PREDICTION_COLUMNS",
    "PREDICTION_INSERT_COLUMNS",
    "ColumnSpec",
    "FeatureLayout",
    "PredictionRows",
    "dead_letter_columns",
    "dead_letter_from_row",
    "drift_metric_columns",
    "drift_metric_from_row",
    "feature_layout_columns",
    "outcome_arrow",
    "outcome_columns",
    "outcome_from_row",
    "prediction_arrow",
    "prediction_from_row",
    "select_list",
]

_MS = "DateTime64(3, 'UTC')"


class ColumnSpec(NamedTuple):
    names: tuple[str, ...]
    types: tuple[str, ...]


def _spec(*pairs: tuple[str, str]) -> ColumnSpec:
    return ColumnSpec(tuple(n for n, _ in pairs), tuple(t for _, t in pairs))


_SOURCE = (
    ("src_topic", "LowCardinality(String)"),
    ("src_partition", "Int32"),
    ("src_offset", "Int64"),
)

PREDICTION_COLUMNS = _spec(
    ("event_id", "String"),
    ("model", "LowCardinality(String)"),
    ("model_version", "LowCardinality(String)"),
    ("timestamp", _MS),
    ("received_at", _MS),
    ("request_id", "String"),
    ("num", "Map(String, Float64)"),
    ("cat", "Map(String, String)"),
    ("nulls", "Array(String)"),
    ("pred_num", "Nullable(Float64)"),
    ("pred_label", "String"),
    ("pred_proba", "Map(String, Float64)"),
    ("segments", "Map(String, String)"),
    ("latency_ms", "Nullable(Float64)"),
    *_SOURCE,
)
"""A prediction as read: the ``prediction_features`` view, feature names and values."""


def _stored(read: ColumnSpec) -> ColumnSpec:
    """``read`` with ``num`` and ``cat`` as stored: the layout and the values."""
    pairs: list[tuple[str, str]] = []
    for pair in zip(read.names, read.types, strict=True):
        if pair[0] == "num":
            pairs += [
                ("layout", "UInt64"),
                ("num_values", "Array(Float64)"),
                ("cat_values", "Array(String)"),
            ]
        elif pair[0] != "cat":
            pairs.append(pair)
    return _spec(*pairs)


PREDICTION_INSERT_COLUMNS = _stored(PREDICTION_COLUMNS)
"""A prediction as inserted: the feature values without their names, and the layout
(:class:`FeatureLayout`) that names them; ``num`` and ``cat`` keep their default, empty."""

FEATURE_LAYOUT_COLUMNS = _spec(
    ("layout", "UInt64"),
    ("num_keys", "Array(String)"),
    ("cat_keys", "Array(String)"),
)

OUTCOME_COLUMNS = _spec(
    ("event_id", "String"),
    ("model", "LowCardinality(String)"),
    ("request_id", "String"),
    ("timestamp", _MS),
    ("received_at", _MS),
    ("outcome_num", "Nullable(Float64)"),
    ("outcome_label", "String"),
    *_SOURCE,
)

OUTCOME_LATEST_COLUMNS = _spec(
    ("model", "LowCardinality(String)"),
    ("request_id", "String"),
    ("timestamp", _MS),
    ("event_id", "String"),
    ("received_at", _MS),
    ("outcome_num", "Nullable(Float64)"),
    ("outcome_label", "String"),
)
"""``outcomes_latest``: the columns of :data:`OUTCOME_COLUMNS` the join reads."""

BASELINE_COLUMNS = _spec(
    ("model", "LowCardinality(String)"),
    ("version", "String"),
    ("fingerprint", "String"),
    ("n_rows", "UInt64"),
    ("created_at", _MS),
    ("profile", "String"),
)

DRIFT_METRIC_COLUMNS = _spec(
    ("model", "LowCardinality(String)"),
    ("baseline_version", "LowCardinality(String)"),
    ("window_id", "UInt64"),
    ("window_start", _MS),
    ("window_end", _MS),
    ("feature", "LowCardinality(String)"),
    ("metric", "LowCardinality(String)"),
    ("value", "Float64"),
    ("n", "UInt32"),
    ("computed_at", _MS),
    ("p_value", "Nullable(Float64)"),
    ("effect_size", "Nullable(Float64)"),
    ("severity", "LowCardinality(String)"),
    ("segment", "LowCardinality(String)"),
)


DEAD_LETTER_COLUMNS = _spec(
    ("received_at", _MS),
    ("kind", "LowCardinality(String)"),
    ("reason", "LowCardinality(String)"),
    ("detail", "String"),
    ("payload", "String"),
    *_SOURCE,
)


def _source_columns(sources: list[Coordinates | None]) -> list[list[Any]]:
    n = len(sources)
    if all(s is None for s in sources):  # HTTP ingest: no Kafka coordinates
        return [[""] * n, [-1] * n, [-1] * n]
    topics: list[str] = []
    partitions: list[int] = []
    offsets: list[int] = []
    for s in sources:
        if s is None:
            topics.append("")
            partitions.append(-1)
            offsets.append(-1)
        else:
            topics.append(s.topic)
            partitions.append(s.partition)
            offsets.append(s.offset)
    return [topics, partitions, offsets]


_UTC_MS = pa.timestamp("ms", tz="UTC")


class FeatureLayout(NamedTuple):
    """The names of a stored row's feature values, in their order (``feature_layouts``).

    A row stores its values only; the names are stored once per layout, which
    :attr:`id` names. Layout 0 is no layout: the rows stored before migration 6, whose
    names are in their ``num`` and ``cat`` maps.

    >>> FeatureLayout(("age", "income"), ("plan",)).id
    11250790891176166172
    """

    num_keys: tuple[str, ...]
    cat_keys: tuple[str, ...]

    @property
    def id(self) -> int:
        """A 64-bit digest of the names, never 0."""
        named = orjson.dumps([self.num_keys, self.cat_keys])
        digest = hashlib.blake2b(named, digest_size=8, person=b"driftd-layout").digest()
        return int.from_bytes(digest, "little") or 1


class PredictionRows(NamedTuple):
    """A batch ready to insert: the rows, and the layouts their ``layout`` column names."""

    table: pa.Table
    layouts: dict[int, FeatureLayout]


def prediction_arrow(batch: PredictionBatch) -> PredictionRows:
    """The batch as an Arrow table in :data:`PREDICTION_INSERT_COLUMNS` order, with the
    layouts of its feature values.

    Maps and arrays are built per column, not per event: the dense columns are
    stacked, the present cells picked row by row (in the batch's column order), so the
    rows read back (through ``prediction_features``) equal the batch's records.
    """
    n = len(batch)
    num_values, num_names, num_mask = _values(batch.num, n, _floats_present, pa.float64())
    cat_values, cat_names, cat_mask = _values(batch.cat, n, _objects_present, pa.string())
    layout, layouts = _layouts(num_names, num_mask, cat_names, cat_mask)
    arrays = [
        _strings(batch.event_id),
        _low_cardinality(batch.model),
        _low_cardinality(batch.model_version),
        pa.array(batch.timestamp_ms, pa.int64()).cast(_UTC_MS),
        pa.array(batch.received_ms, pa.int64()).cast(_UTC_MS),
        _strings(batch.request_id),
        layout,
        num_values,
        cat_values,
        _names(batch.nulls, n),
        _nullable(batch.pred_num),
        _strings(batch.pred_label),
        _map(batch.pred_proba, n, _floats_present, pa.float64()),
        _map(batch.segments, n, _objects_present, pa.string()),
        _nullable(batch.latency_ms),
        _low_cardinality(batch.src_topic),
        pa.array(batch.src_partition, pa.int32()),
        pa.array(batch.src_offset, pa.int64()),
    ]
    table = pa.Table.from_arrays(arrays, names=list(PREDICTION_INSERT_COLUMNS.names))
    return PredictionRows(table, layouts)


def _layouts(
    num_names: list[str],
    num_mask: npt.NDArray[np.bool_],
    cat_names: list[str],
    cat_mask: npt.NDArray[np.bool_],
) -> tuple[pa.Array, dict[int, FeatureLayout]]:
    """Each row's layout id, and the layouts: one per pattern of present cells (one
    for the whole batch when every feature is sent, the usual case)."""
    if num_mask.all() and cat_mask.all():
        layout = FeatureLayout(tuple(num_names), tuple(cat_names))
        key = layout.id
        return pa.array(np.full(len(num_mask), key, np.uint64)), {key: layout}
    both = np.concatenate([num_mask, cat_mask], axis=1)
    patterns, inverse = np.unique(both, axis=0, return_inverse=True)
    k = len(num_names)
    layouts = [
        FeatureLayout(
            tuple(itertools.compress(num_names, row[:k])),
            tuple(itertools.compress(cat_names, row[k:])),
        )
        for row in patterns.tolist()
    ]
    keys = [layout.id for layout in layouts]
    ids = np.array(keys, np.uint64)
    return pa.array(ids[inverse.reshape(-1)]), dict(zip(keys, layouts, strict=True))


def feature_layout_columns(layouts: dict[int, FeatureLayout]) -> list[list[Any]]:
    """Columns in :data:`FEATURE_LAYOUT_COLUMNS` order, of layouts keyed by their id."""
    return [
        list(layouts),
        [list(layout.num_keys) for layout in layouts.values()],
        [list(layout.cat_keys) for layout in layouts.values()],
    ]


def _strings(values: npt.NDArray[Any]) -> pa.Array:
    return pa.array(values, pa.string())


def _low_cardinality(values: npt.NDArray[Any]) -> pa.Array:
    """A ``LowCardinality(String)`` column (``None`` stored as ``""``): one value
    for the whole batch (one model, one topic: the usual case) as a dictionary
    array, without converting a string per row.

    >>> _low_cardinality(np.array([None, None], dtype=object)).to_pylist()
    ['', '']
    """
    distinct = set(values.tolist())
    if len(distinct) == 1:
        (value,) = distinct
        indices = pa.array(np.zeros(len(values), np.int32))
        return pa.DictionaryArray.from_arrays(
            indices, pa.array(["" if value is None else value], pa.string())
        )
    if None in distinct:
        values = values.copy()
        values[values == None] = ""  # noqa: E711 (elementwise)
    return _strings(values)


def _nullable(values: npt.NDArray[np.float64]) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _floats_present(column: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    return ~np.isnan(column)


def _objects_present(column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    present: npt.NDArray[np.bool_] = column != None  # noqa: E711 (elementwise)
    return present


def _cells(
    columns: dict[str, npt.NDArray[Any]], n: int, present: Callable[[Any], Any]
) -> tuple[pa.Array, list[str], npt.NDArray[np.bool_], npt.NDArray[Any] | None]:
    """Offsets of the present cells, row-major, with the names, the mask and the
    stacked cells (``None`` without columns).

    When every cell is present (the common case: a model's features are all
    sent) the offsets are a range.
    """
    names = list(columns)
    if not names:
        return pa.array(np.zeros(n + 1, np.int32)), names, np.zeros((n, 0), np.bool_), None
    dense = np.stack([columns[k] for k in names], axis=1)
    mask = np.asarray(present(dense), dtype=np.bool_)
    k = len(names)
    if mask.all():
        return pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), names, mask, dense
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    return pa.array(offsets), names, mask, dense


def _keys(names: list[str], mask: npt.NDArray[np.bool_]) -> pa.Array:
    """The names of the present cells, row-major; when every cell is present, the names
    repeated, built from buffers without one Python string per cell."""
    if not names:
        return pa.array([], pa.string())
    if mask.all():
        return _repeated(names, len(mask))
    which = np.nonzero(mask)[1].astype(np.int32)
    keys = pa.DictionaryArray.from_arrays(pa.array(which), pa.array(names, pa.string()))
    return keys.dictionary_decode()


def _items(
    dense: npt.NDArray[Any] | None, mask: npt.NDArray[np.bool_], value_type: pa.DataType
) -> pa.Array:
    """The present cells' values, row-major."""
    if dense is None:
        return pa.array([], value_type)
    if mask.all():  # the stacked cells as they are
        return pa.array(dense.reshape(-1), value_type)
    return pa.array(dense[mask], value_type)


def _repeated(names: list[str], n: int) -> pa.Array:
    """``names`` repeated ``n`` times as one string array, built from buffers.

    >>> _repeated(["a", "bc"], 2).to_pylist()
    ['a', 'bc', 'a', 'bc']
    """
    encoded = [name.encode() for name in names]
    lengths = np.array([len(e) for e in encoded], np.int64)
    offsets = np.zeros(n * len(names) + 1, np.int64)
    np.cumsum(np.tile(lengths, n), out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:  # beyond a string array's offsets
        return pa.array(names * n, pa.string())
    data = np.tile(np.frombuffer(b"".join(encoded), np.uint8), n)
    return pa.StringArray.from_buffers(
        n * len(names), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
    )


def _map(
    columns: dict[str, npt.NDArray[Any]],
    n: int,
    present: Callable[[Any], Any],
    value_type: pa.DataType,
) -> pa.Array:
    offsets, names, mask, dense = _cells(columns, n, present)
    return pa.MapArray.from_arrays(offsets, _keys(names, mask), _items(dense, mask, value_type))


def _values(
    columns: dict[str, npt.NDArray[Any]],
    n: int,
    present: Callable[[Any], Any],
    value_type: pa.DataType,
) -> tuple[pa.Array, list[str], npt.NDArray[np.bool_]]:
    """Each row's present values as a list (no names), with the names and the mask."""
    offsets, names, mask, dense = _cells(columns, n, present)
    return pa.ListArray.from_arrays(offsets, _items(dense, mask, value_type)), names, mask


def _names(columns: dict[str, npt.NDArray[np.bool_]], n: int) -> pa.Array:
    offsets, names, mask, _ = _cells(columns, n, lambda column: column)
    return pa.ListArray.from_arrays(offsets, _keys(names, mask))


def outcome_columns(records: Sequence[OutcomeRecord]) -> list[list[Any]]:
    """Columns in :data:`OUTCOME_COLUMNS` order."""
    return [
        [r.event_id for r in records],
        [r.model for r in records],
        [r.request_id for r in records],
        [r.timestamp_ms for r in records],
        [r.received_ms for r in records],
        [r.outcome_num for r in records],
        [r.outcome_label for r in records],
        *_source_columns([r.source for r in records]),
    ]


def outcome_arrow(records: Sequence[OutcomeRecord]) -> pa.Table:
    """:func:`outcome_columns` as an Arrow table, in :data:`OUTCOME_COLUMNS` order (rows
    read back equal those the column lists store).

    >>> from driftd.events import OutcomeRecord
    >>> t = outcome_arrow([OutcomeRecord("e", "m", "r", 5, 6, None, "yes")])
    >>> t.column("outcome_num").to_pylist(), t.column("src_offset").to_pylist()
    ([None], [-1])
    """
    data = outcome_columns(records)
    by_name = dict(zip(OUTCOME_COLUMNS.names, data, strict=True))
    arrays = [
        pa.array(by_name["event_id"], pa.string()),
        _low_cardinality(np.asarray(by_name["model"], dtype=object)),
        pa.array(by_name["request_id"], pa.string()),
        pa.array(by_name["timestamp"], pa.int64()).cast(_UTC_MS),
        pa.array(by_name["received_at"], pa.int64()).cast(_UTC_MS),
        pa.array(by_name["outcome_num"], pa.float64()),
        pa.array(by_name["outcome_label"], pa.string()),
        _low_cardinality(np.asarray(by_name["src_topic"], dtype=object)),
        pa.array(by_name["src_partition"], pa.int32()),
        pa.array(by_name["src_offset"], pa.int64()),
    ]
    return pa.Table.from_arrays(arrays, names=list(OUTCOME_COLUMNS.names))


def drift_metric_columns(rows: Sequence[DriftMetric]) -> list[list[Any]]:
    """Columns in :data:`DRIFT_METRIC_COLUMNS` order."""
    return [
        [r.model for r in rows],
        [r.baseline_version for r in rows],
        [r.window_id for r in rows],
        [r.window_start_ms for r in rows],
        [r.window_end_ms for r in rows],
        [r.feature for r in rows],
        [r.metric for r in rows],
        [float(r.value) for r in rows],
        [r.n for r in rows],
        [r.computed_ms for r in rows],
        [r.p_value for r in rows],
        [r.effect_size for r in rows],
        [r.severity for r in rows],
        [r.segment for r in rows],
    ]


def select_list(spec: ColumnSpec) -> str:
    """The columns of ``spec`` for a SELECT, times as epoch-ms integers.

    >>> select_list(_spec(("a", "String"), ("t", _MS)))
    'a, toUnixTimestamp64Milli(t)'
    """
    return ", ".join(
        f"toUnixTimestamp64Milli({name})" if kind == _MS else name
        for name, kind in zip(spec.names, spec.types, strict=True)
    )


def _source(topic: str, partition: int, offset: int) -> Coordinates | None:
    return None if partition < 0 and not topic else Coordinates(topic, partition, offset)


def prediction_from_row(row: Sequence[Any]) -> PredictionRecord:
    """A row selected with ``select_list(PREDICTION_COLUMNS)`` → record."""
    return PredictionRecord(
        event_id=row[0],
        model=row[1],
        model_version=row[2],
        timestamp_ms=row[3],
        received_ms=row[4],
        request_id=row[5],
        num=dict(row[6]),
        cat=dict(row[7]),
        nulls=list(row[8]),
        pred_num=row[9],
        pred_label=row[10],
        pred_proba=dict(row[11]),
        segments=dict(row[12]),
        latency_ms=row[13],
        source=_source(row[14], row[15], row[16]),
    )


def outcome_from_row(row: Sequence[Any]) -> OutcomeRecord:
    """A row selected with ``select_list(OUTCOME_COLUMNS)`` → record."""
    return OutcomeRecord(
        event_id=row[0],
        model=row[1],
        request_id=row[2],
        timestamp_ms=row[3],
        received_ms=row[4],
        outcome_num=row[5],
        outcome_label=row[6],
        source=_source(row[7], row[8], row[9]),
    )


def drift_metric_from_row(row: Sequence[Any]) -> DriftMetric:
    """A row selected with ``select_list(DRIFT_METRIC_COLUMNS)`` → record."""
    return DriftMetric(*row)


def dead_letter_columns(rows: Sequence[StoredDeadLetter]) -> list[list[Any]]:
    """Columns in :data:`DEAD_LETTER_COLUMNS` order."""
    return [
        [r.received_ms for r in rows],
        [r.kind for r in rows],
        [r.reason for r in rows],
        [r.detail for r in rows],
        [r.payload_json for r in rows],
        [r.src_topic for r in rows],
        [r.src_partition for r in rows],
        [r.src_offset for r in rows],
    ]


def dead_letter_from_row(row: Sequence[Any]) -> StoredDeadLetter:
    """A row selected with ``select_list(DEAD_LETTER_COLUMNS)`` → record."""
    return StoredDeadLetter(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
        str(row[5]), int(row[6]), int(row[7]),
    )  # fmt: skip
