"""A batch of validated predictions held as columns: the hot path's one currency.

Every stage after validation (storage, deduplication, window counting, stream
detectors, segment slices) works on a :class:`PredictionBatch`, whichever way
it was built: decoded straight into columns by the collector's fast path, or
converted from per-event :class:`~driftd.events.PredictionRecord` objects by
:meth:`PredictionBatch.from_records` (the exact path, and every test that
starts from records). The two must be indistinguishable downstream, so the
representation can hold anything a record can:

* scalar fields are numpy arrays, one entry per event; text fields are object
  arrays of ``str``; ``pred_num`` and ``latency_ms`` use NaN for "absent";
* ``num`` holds one float64 column per numeric feature name seen in the batch
  (NaN where an event has no number under that name), ``cat`` one object
  column per categorical name (``None`` where absent), ``nulls`` one bool
  column per name some event sent as null/NaN; ``pred_proba`` and
  ``segments`` likewise (NaN / ``None`` where absent);
* ``src_topic`` is ``None`` for an event without Kafka coordinates (then
  ``src_partition`` and ``src_offset`` are -1);
* ``index`` is each event's position in the batch of messages it came from, so
  a rejected or refused event can be named.

An event's ``nulls`` are a set: the order of names within one event is the
order of the batch's columns, not necessarily the order the event listed them.

>>> from driftd.events import Coordinates, parse_prediction
>>> recs = [
...     parse_prediction({"model": "m", "features": {"x": 1, "c": "a"}, "prediction": 0.2},
...                      received_ms=5, source=Coordinates("t", 0, 7)),
...     parse_prediction({"model": "m", "features": {"x": None}, "prediction": "yes"},
...                      received_ms=6),
... ]
>>> b = PredictionBatch.from_records(recs)
>>> len(b), b.num["x"].tolist(), b.cat["c"].tolist(), b.nulls["x"].tolist()
(2, [1.0, nan], ['a', None], [False, True])
>>> b.to_records() == recs
True
>>> b.take([1]).to_records() == recs[1:]
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftd.events import Coordinates, PredictionRecord

__all__ = ["PredictionBatch", "factorize"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Objects = npt.NDArray[np.object_]
Bools = npt.NDArray[np.bool_]


def factorize(values: Objects) -> tuple[Ints, Objects]:
    """``pandas.factorize`` of an object column of strings, short-circuited when every
    entry is the same string (a batch usually holds one model, version and topic).

    >>> codes, names = factorize(np.array(["m", "m"], dtype=object))
    >>> codes.tolist(), names.tolist()
    ([0, 0], ['m'])
    >>> [c.tolist() for c in factorize(np.array(["a", "b", "a"], dtype=object))]
    [[0, 1, 0], ['a', 'b']]
    """
    if values.size:
        first = values[0]
        if type(first) is str and (values == first).all():
            names = np.empty(1, dtype=object)
            names[0] = first
            return np.zeros(values.size, dtype=np.int64), names
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def _objects(values: Iterable[Any], n: int) -> Objects:
    out = np.empty(n, dtype=object)
    out[:] = list(values) if n else []
    return out


def _any_number(column: Floats) -> bool:
    """Whether a float column holds a value (not only NaN)."""
    return bool((~np.isnan(column)).any())


def _any_object(column: Objects) -> bool:
    """Whether an object column holds a value (not only None): the first row usually
    answers (comparing every row with None costs ~20 ns a row)."""
    return column.size > 0 and (column[0] is not None or bool((column != None).any()))  # noqa: E711 (elementwise)


def _scatter(
    rows: Iterable[Iterable[tuple[str, Any]]], n: int, fill: Any, dtype: Any
) -> dict[str, Any]:
    """One column per name the ``n`` rows carry: row ``i``'s value where it has one,
    ``fill`` elsewhere; columns in the order the names first appear."""
    columns: dict[str, Any] = {}
    for i, items in enumerate(rows):
        for name, value in items:
            column = columns.get(name)
            if column is None:
                column = columns[name] = np.full(n, fill, dtype=dtype)
            column[i] = value
    return columns


@dataclass(slots=True, eq=False)
class PredictionBatch:
    """Validated predictions as columns (see the module docstring for the encoding)."""

    event_id: Objects
    model: Objects
    model_version: Objects
    timestamp_ms: Ints
    received_ms: Ints
    request_id: Objects
    pred_num: Floats
    pred_label: Objects
    latency_ms: Floats
    src_topic: Objects
    src_partition: Ints
    src_offset: Ints
    index: Ints
    num: dict[str, Floats] = field(default_factory=dict)
    cat: dict[str, Objects] = field(default_factory=dict)
    nulls: dict[str, Bools] = field(default_factory=dict)
    pred_proba: dict[str, Floats] = field(default_factory=dict)
    segments: dict[str, Objects] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.timestamp_ms.shape[0])

    # --- construction -----------------------------------------------------------

    @classmethod
    def empty(cls) -> PredictionBatch:
        return cls.from_records([])

    @classmethod
    def from_records(
        cls, records: Sequence[PredictionRecord], index: Sequence[int] | None = None
    ) -> PredictionBatch:
        """The columns of ``records`` (``index`` defaults to 0..n-1)."""
        n = len(records)
        nan = math.nan
        num: dict[str, Floats] = _scatter((r.num.items() for r in records), n, nan, np.float64)
        cat: dict[str, Objects] = _scatter((r.cat.items() for r in records), n, None, object)
        nulls: dict[str, Bools] = _scatter(
            (dict.fromkeys(r.nulls, True).items() for r in records), n, False, np.bool_
        )
        proba: dict[str, Floats] = _scatter(
            (r.pred_proba.items() for r in records), n, nan, np.float64
        )
        segments: dict[str, Objects] = _scatter(
            (r.segments.items() for r in records), n, None, object
        )
        sources = [r.source for r in records]
        return cls(
            event_id=_objects((r.event_id for r in records), n),
            model=_objects((r.model for r in records), n),
            model_version=_objects((r.model_version for r in records), n),
            timestamp_ms=np.fromiter((r.timestamp_ms for r in records), np.int64, n),
            received_ms=np.fromiter((r.received_ms for r in records), np.int64, n),
            request_id=_objects((r.request_id for r in records), n),
            pred_num=np.fromiter(
                (nan if r.pred_num is None else r.pred_num for r in records), np.float64, n
            ),
            pred_label=_objects((r.pred_label for r in records), n),
            latency_ms=np.fromiter(
                (nan if r.latency_ms is None else r.latency_ms for r in records), np.float64, n
            ),
            src_topic=_objects((None if s is None else s.topic for s in sources), n),
            src_partition=np.fromiter(
                (-1 if s is None else s.partition for s in sources), np.int64, n
            ),
            src_offset=np.fromiter((-1 if s is None else s.offset for s in sources), np.int64, n),
            index=np.arange(n, dtype=np.int64)
            if index is None
            else np.asarray(index, dtype=np.int64).reshape(n),
            num=num,
            cat=cat,
            nulls=nulls,
            pred_proba=proba,
            segments=segments,
        )

    @classmethod
    def concat(cls, parts: Sequence[PredictionBatch]) -> PredictionBatch:
        """The parts one after another (a column one part lacks is absent there)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        sizes = [len(p) for p in parts]

        def merged(attr: str, fill: Any, dtype: Any) -> dict[str, Any]:
            names: dict[str, None] = {}
            for p in parts:
                names.update(dict.fromkeys(getattr(p, attr)))
            return {
                name: np.concatenate(
                    [
                        getattr(p, attr).get(name, np.full(size, fill, dtype=dtype))
                        for p, size in zip(parts, sizes, strict=True)
                    ]
                )
                for name in names
            }

        def cat(attr: str) -> Any:
            return np.concatenate([getattr(p, attr) for p in parts])

        return cls(
            event_id=cat("event_id"),
            model=cat("model"),
            model_version=cat("model_version"),
            timestamp_ms=cat("timestamp_ms"),
            received_ms=cat("received_ms"),
            request_id=cat("request_id"),
            pred_num=cat("pred_num"),
            pred_label=cat("pred_label"),
            latency_ms=cat("latency_ms"),
            src_topic=cat("src_topic"),
            src_partition=cat("src_partition"),
            src_offset=cat("src_offset"),
            index=cat("index"),
            num=merged("num", math.nan, np.float64),
            cat=merged("cat", None, object),
            nulls=merged("nulls", False, np.bool_),
            pred_proba=merged("pred_proba", math.nan, np.float64),
            segments=merged("segments", None, object),
        )

    # --- selection --------------------------------------------------------------

    def take(self, rows: Sequence[int] | npt.NDArray[Any]) -> PredictionBatch:
        """The rows ``rows`` (positions, or a boolean mask), in that order.

        Columns that hold nothing for the selected rows are dropped, so a
        batch's columns are always the names its events carry.
        """
        sel = np.asarray(rows)
        if sel.dtype != np.bool_:
            sel = sel.astype(np.int64, copy=False)
        return self._select(sel)

    def _select(self, sel: Any) -> PredictionBatch:
        """The rows ``sel`` picks out of every column (an index array, a mask or a slice:
        a slice gives views), without the columns that hold nothing there."""

        def sub(columns: dict[str, Any], present: Callable[[Any], Any]) -> dict[str, Any]:
            out = {}
            for name, column in columns.items():
                part = column[sel]
                if present(part):
                    out[name] = part
            return out

        return PredictionBatch(
            event_id=self.event_id[sel],
            model=self.model[sel],
            model_version=self.model_version[sel],
            timestamp_ms=self.timestamp_ms[sel],
            received_ms=self.received_ms[sel],
            request_id=self.request_id[sel],
            pred_num=self.pred_num[sel],
            pred_label=self.pred_label[sel],
            latency_ms=self.latency_ms[sel],
            src_topic=self.src_topic[sel],
            src_partition=self.src_partition[sel],
            src_offset=self.src_offset[sel],
            index=self.index[sel],
            num=sub(self.num, _any_number),
            cat=sub(self.cat, _any_object),
            nulls=sub(self.nulls, np.any),
            pred_proba=sub(self.pred_proba, _any_number),
            segments=sub(self.segments, _any_object),
        )

    def slice(self, start: int, stop: int) -> PredictionBatch:
        """Rows ``start:stop``; the columns are views of this batch's (a batch's columns
        are never written once it is built), so no row is copied; the batch itself when
        that is every row."""
        if start <= 0 and stop >= len(self):
            return self
        return self._select(slice(start, stop))

    # --- back to records --------------------------------------------------------

    def source(self, i: int) -> Coordinates | None:
        topic = self.src_topic[i]
        if topic is None:
            return None
        return Coordinates(topic, int(self.src_partition[i]), int(self.src_offset[i]))

    def to_records(self) -> list[PredictionRecord]:
        """One :class:`PredictionRecord` per row (for tests and the rare per-event need)."""
        out = []
        for i in range(len(self)):
            pred = float(self.pred_num[i])
            latency = float(self.latency_ms[i])
            out.append(
                PredictionRecord(
                    event_id=self.event_id[i],
                    model=self.model[i],
                    model_version=self.model_version[i],
                    timestamp_ms=int(self.timestamp_ms[i]),
                    received_ms=int(self.received_ms[i]),
                    request_id=self.request_id[i],
                    num={k: float(v[i]) for k, v in self.num.items() if not math.isnan(v[i])},
                    cat={k: v[i] for k, v in self.cat.items() if v[i] is not None},
                    nulls=[k for k, v in self.nulls.items() if v[i]],
                    pred_num=None if math.isnan(pred) else pred,
                    pred_label=self.pred_label[i],
                    pred_proba={
                        k: float(v[i]) for k, v in self.pred_proba.items() if not math.isnan(v[i])
                    },
                    segments={k: v[i] for k, v in self.segments.items() if v[i] is not None},
                    latency_ms=None if math.isnan(latency) else latency,
                    source=self.source(i),
                )
            )
        return out
