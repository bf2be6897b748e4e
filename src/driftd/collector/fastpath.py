"""The collector's fast path: a batch of Kafka prediction values straight into columns.

The exact path (:class:`~driftd.collector.validate.Validator` per event: decode →
scrub → :func:`~driftd.events.parse_prediction` → record) costs ~50 µs an event in
Python. Here the same judgement is made once per *column* or once per *distinct
value* of a column, and the result is a
:class:`~driftd.batch.PredictionBatch` built from numpy arrays, with no record
and no scrubbed copy per event.

The fast path only vouches for events it can prove the exact path would accept
unchanged, and hands every other position back (:attr:`FastResult.fallback`) for
the exact path to judge, so results are identical by construction:

* decoding, in two stages. Without records (the pipeline), a typed stage first:
  msgspec decodes each value into the batch's :class:`_Shape` (a Struct per feature
  key set, feature type and prediction type, learnt from the batch's first events,
  unknown keys forbidden), so no dict is built and the columns are read as typed
  attributes (sliced from one flat list of every Struct's attributes). Strings seen
  in earlier batches decode as ``Literal`` values (one shared string object per
  value), numeric features as ``int | float`` (small integers are shared objects).
  What does not fit the shape goes to the orjson stage:
  :func:`orjson.loads`, the exact path's first decoder, so every value it accepts
  is the very object the exact path would see; anything orjson refuses (NaN
  literals, lone surrogates, bad JSON) falls back. msgspec is only trusted where it
  reads JSON as orjson does (duplicate keys: the last wins; integers into float
  attributes: the float the column holds anyway; everything it reads differently
  fails to decode), with the cases in the tests;
* scrubbing changes nothing the fast path keeps: every key set (top level,
  ``features``) has a scrub plan that at most drops keys outside the contract
  (:meth:`~driftd.collector.scrub.Scrubber.dropped_keys`, cached per key set; a
  dropped key's value is never looked at, so those columns are simply not read);
  a feature string the value redactor masks or hashes is stored as redacted (as
  the exact path stores it) when the result is within the limits; every other
  string is one the value redactor leaves alone, decided once per
  distinct value of a column (:func:`~driftd.collector.pii.surely_clean` proves a
  column of short ids clean in two regex scans; the rest ask the redactor);
* validation: only the common shapes are handled here: a known model; string
  ids/version within the length limit and ASCII; ``features`` an object of
  finite numbers (integers up to 2**53), ASCII strings and booleans; a scalar
  ``prediction``; an RFC 3339 ``timestamp`` of the forms
  ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff][Z|±HH:MM]`` (parsed with numpy, the same
  arithmetic as :func:`~driftd.events.parse_timestamp_ms`) or integer epoch
  milliseconds; ``latency_ms`` a finite number >= 0. Nulls, NaN, class
  probabilities, segments, unknown top-level keys, anything over a limit or
  non-ASCII falls back.

Invalid events always fall back, so their dead letters (reason, detail, scrubbed
payload) are the exact path's own.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import orjson

from driftd.batch import PredictionBatch
from driftd.collector.messages import Message
from driftd.collector.pii import surely_clean
from driftd.collector.scrub import Scrubber
from driftd.events import MAX_EPOCH_MS, MIN_EPOCH_MS, MODEL_NAME_PATTERN, EventLimits

__all__ = ["FastPath", "FastResult", "cycle_collector_paused"]

Bools = npt.NDArray[np.bool_]

_REQUIRED = ("model", "features", "prediction")
_KNOWN_KEYS = frozenset(
    {
        "event_id",
        "model",
        "model_version",
        "timestamp",
        "request_id",
        "features",
        "prediction",
        "latency_ms",
    }
)
_ALL_KEYS = tuple(sorted(_KNOWN_KEYS))
_MODEL_RE = re.compile(MODEL_NAME_PATTERN)
_EXACT_INT = float(2**53)
_NAN = math.nan

# RFC 3339 forms parsed here, by length: (digits of the fraction, zone: "", "Z" or "±").
_FORMS: dict[int, tuple[int, str]] = {}
for _frac in (0, 3, 6):
    for _zone, _width in (("", 0), ("Z", 1), ("±", 6)):
        _FORMS[19 + (_frac + 1 if _frac else 0) + _width] = (_frac, _zone)
_RECEIVED, _SOURCE = attrgetter("received_ms"), attrgetter("source")
_TOPIC, _PARTITION, _OFFSET = attrgetter("topic"), attrgetter("partition"), attrgetter("offset")
_DATE_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_DATE_SEPARATORS = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"))


@dataclass(slots=True)
class FastResult:
    """What the fast path vouches for, and what it hands back."""

    batch: PredictionBatch
    """The vouched-for events; ``index`` is each one's position in the messages. The
    rows are in message order within each stage, not across the two: the caller sorts
    once, with the exact path's rows (:func:`~driftd.collector.validate.Validator.run`)."""
    objects: list[dict[str, Any]]
    """The decoded (and, as scrubbing changes nothing, scrubbed) object of each row."""
    fallback: list[int] = field(default_factory=list)
    """Positions the exact path must judge (ascending)."""


class FastPath:
    """Decodes and validates prediction values of a batch column by column."""

    def __init__(self, scrubber: Scrubber, limits: EventLimits) -> None:
        self.scrubber = scrubber
        self.limits = limits
        self.fallbacks = 0
        """Events handed to the exact path so far (a clean batch adds none)."""
        self.typed = 0
        """Events the typed (msgspec) stage vouched for so far."""
        self._shapes: dict[tuple[Any, ...], _Shape] = {}

    def run(
        self,
        messages: Sequence[Message],
        positions: Sequence[int],
        now_ms: int,
        known: Callable[[str], bool],
        *,
        keep_objects: bool = False,
    ) -> FastResult:
        """Judge the bytes values of the prediction messages at ``positions``.

        The decoded objects are returned only with ``keep_objects``: otherwise they
        are freed before the cycle collector runs again, so it never walks them.
        """
        with cycle_collector_paused():
            result = self._run(messages, positions, now_ms, known, typed=not keep_objects)
            if not keep_objects:
                result.objects = []
            return result

    def _run(
        self,
        messages: Sequence[Message],
        positions: Sequence[int],
        now_ms: int,
        known: Callable[[str], bool],
        *,
        typed: bool = False,
    ) -> FastResult:
        first = self._typed(messages, positions, now_ms, known) if typed else None
        if first is not None:  # what the typed stage hands back goes to the orjson stage
            positions, first.fallback = first.fallback, []
            if not positions:
                return first
        objs, pos, fallback = self._decode(messages, positions)
        if objs:
            ok = self._top_keys(objs)
            cols = _Columns(len(objs))
            self._features(objs, ok, cols)
            rest = self._assemble(
                messages, pos, now_ms, known, _getter(objs), ok, cols, objs, fallback
            )
        else:
            rest = FastResult(PredictionBatch.empty(), [], fallback)
        self.fallbacks += len(rest.fallback)
        if first is None:
            return rest
        if not len(rest.batch):
            first.fallback = rest.fallback
            return first
        # the typed stage's rows, then the orjson stage's: put in order by the caller
        return FastResult(PredictionBatch.concat([first.batch, rest.batch]), [], rest.fallback)

    def _typed(
        self,
        messages: Sequence[Message],
        positions: Sequence[int],
        now_ms: int,
        known: Callable[[str], bool],
    ) -> FastResult | None:
        """The typed stage: every value decoded by msgspec into the batch's own
        :class:`_Shape` (learnt from its first event), straight to typed attributes.
        Values that do not decode into it (another shape, anything odd) are
        returned in ``fallback`` for the orjson stage; None: no shape to try."""
        values: list[Any] = [messages[i].value for i in positions]
        if not values or max(map(len, values)) > self.limits.max_payload_bytes:
            return None
        for value in values[:_SHAPE_PROBES]:  # the first events that have a shape
            shape = self._shape(value)
            if shape is not None:
                break
        else:
            return None
        objs, pos, rest = shape.decode(values, positions, self._rememberable)
        if not objs:
            return None
        n = len(objs)
        ok = np.ones(n, dtype=np.bool_)
        cols = _Columns(n)
        # every attribute of every event in one flat list; a column is a slice of it
        top, width = _flat(objs), len(_EVENT_FIELDS)
        table, k = _flat(top[_EVENT_AT["features"] :: width]), len(shape.names)
        for j, (name, kind) in enumerate(zip(shape.names, shape.kinds, strict=True)):
            column = table[j::k]
            if kind is float:
                numbers = _floats(column)
                cols.put_num(name, numbers, None, ok, _exact_numbers(numbers))
            elif kind is str:
                texts, good = self._scrubbed(column)
                cols.put_cat(name, texts, None, ok, good)
            else:
                flags = np.array(column, dtype=np.bool_)
                cols.put_cat(name, _booleans(flags), None, ok, None)

        def field(key: str) -> list[Any]:
            return top[_EVENT_AT[key] :: width]

        done = self._assemble(messages, pos, now_ms, known, field, ok, cols, [], [])
        # whatever the typed stage cannot vouch for is judged again by the orjson stage
        done.fallback = sorted(chain(rest, done.fallback))
        self.typed += len(done.batch)
        return done

    def _shape(self, first: bytes) -> _Shape | None:
        """The typed shape of events like ``first`` (cached), or None if it has none."""
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        if type(obj) is not dict or not _KNOWN_KEYS.issuperset(obj) or not self._top_ok(tuple(obj)):
            return None
        feats, pred = obj.get("features"), obj.get("prediction")
        if type(feats) is not dict or not feats:
            return None
        names = tuple(feats)
        kinds = tuple(_KIND.get(type(v)) for v in feats.values())
        pred_kind = _KIND.get(type(pred))
        if None in kinds or pred_kind is None:
            return None
        key = (names, kinds, pred_kind)
        shape = self._shapes.get(key)
        if shape is None:
            if not self._names_ok(names) or self.scrubber.changes_keys(_ALL_KEYS):
                return None
            if len(self._shapes) >= _SHAPE_LIMIT:
                self._shapes.clear()
            shape = self._shapes[key] = _Shape.build(names, kinds, pred_kind)  # type: ignore[arg-type]
        return shape

    def _assemble(
        self,
        messages: Sequence[Message],
        pos: Sequence[int],
        now_ms: int,
        known: Callable[[str], bool],
        field: Callable[[str], list[Any]],
        ok: Bools,
        cols: _Columns,
        objs: list[dict[str, Any]],
        fallback: list[int],
    ) -> FastResult:
        """The batch of the decoded events at ``pos`` (``field(key)``: each one's value
        of a top-level key, None where absent); rows not ``ok`` join ``fallback``."""
        n = len(pos)
        model = self._model(field("model"), ok, known)
        version = self._text(field("model_version"), ok, ids=False)
        event_id = self._text(field("event_id"), ok, ids=True)
        request_id = self._text(field("request_id"), ok, ids=True)
        pred_num, pred_label = self._prediction(field("prediction"), ok)
        latency = self._latency(field("latency_ms"), ok)
        msgs = messages if len(pos) == len(messages) else [messages[i] for i in pos]
        received = np.fromiter(map(_RECEIVED, msgs), np.int64, n)
        received[received == 0] = now_ms
        timestamp = self._timestamp(field("timestamp"), ok, received)
        sources = list(map(_SOURCE, msgs))
        if type(None) in set(map(type, sources)):  # (``in sources`` calls __eq__ per source)
            src_topic = _objects([None if s is None else s.topic for s in sources])
            src_partition = np.fromiter(
                (-1 if s is None else s.partition for s in sources), np.int64, n
            )
            src_offset = np.fromiter((-1 if s is None else s.offset for s in sources), np.int64, n)
        else:  # Kafka: every message has its coordinates
            src_topic = _objects(list(map(_TOPIC, sources)))
            src_partition = np.fromiter(map(_PARTITION, sources), np.int64, n)
            src_offset = np.fromiter(map(_OFFSET, sources), np.int64, n)
        missing_id = event_id == ""
        if missing_id.any():  # no event_id: the Kafka coordinates name the event
            for j in np.flatnonzero(missing_id).tolist():
                s = sources[j]
                if s is not None:
                    event_id[j] = s.event_id()
        index = np.asarray(pos, dtype=np.int64)
        full = PredictionBatch(
            event_id=event_id,
            model=model,
            model_version=version,
            timestamp_ms=timestamp,
            received_ms=received,
            request_id=request_id,
            pred_num=pred_num,
            pred_label=pred_label,
            latency_ms=latency,
            src_topic=src_topic,
            src_partition=src_partition,
            src_offset=src_offset,
            index=index,
            num=cols.num,
            cat=cols.cat,
        )
        if ok.all():
            batch, kept = full, objs
        else:
            batch = full.take(ok)
            kept = [objs[j] for j in np.flatnonzero(ok).tolist()] if objs else []
            fallback.extend(index[~ok].tolist())
            fallback.sort()
        return FastResult(batch, kept, fallback)

    def _decode(
        self, messages: Sequence[Message], positions: Sequence[int]
    ) -> tuple[list[dict[str, Any]], list[int], list[int]]:
        """The decoded objects and their positions, and the positions left to the exact path."""
        values: list[Any] = [messages[i].value for i in positions]
        loads, error = orjson.loads, orjson.JSONDecodeError
        max_bytes = self.limits.max_payload_bytes
        if values and max(map(len, values)) <= max_bytes:
            try:  # the common case: every value decodes, in one comprehension
                objs = [loads(v) for v in values]
            except error:
                pass
            else:
                if set(map(type, objs)) == {dict}:
                    return objs, list(positions), []
        objs, pos, fallback = [], [], []
        for i, raw in zip(positions, values, strict=True):
            if len(raw) > max_bytes:
                fallback.append(i)
                continue
            try:
                obj = loads(raw)
            except error:
                fallback.append(i)
                continue
            if type(obj) is dict:
                objs.append(obj)
                pos.append(i)
            else:
                fallback.append(i)
        return objs, pos, fallback

    # --- keys ---------------------------------------------------------------------

    def _top_keys(self, objs: list[dict[str, Any]]) -> Bools:
        keysets = list(map(tuple, objs))
        verdicts = {keys: self._top_ok(keys) for keys in set(keysets)}
        return _rows(keysets, verdicts)

    def _top_ok(self, keys: tuple[str, ...]) -> bool:
        """Top-level keys the fast path takes: the contract's (and no others) once the
        scrubber has dropped what it drops; a key it hashes or renames falls back."""
        dropped = self.scrubber.dropped_keys(keys)
        if dropped is None or not dropped.isdisjoint(_KNOWN_KEYS):
            return False
        return _KNOWN_KEYS.issuperset(k for k in keys if k not in dropped) and all(
            k in keys for k in _REQUIRED
        )

    def _kept(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], list[int]] | None:
        """The feature names left once the scrubber has dropped what it drops, and their
        positions in ``names`` (None: the fast path cannot take this key set)."""
        dropped = self.scrubber.dropped_keys(names)
        if dropped is None:
            return None
        if not dropped:
            return (names, list(range(len(names)))) if self._names_ok(names) else None
        at = [j for j, name in enumerate(names) if name not in dropped]
        kept = tuple(names[j] for j in at)
        return (kept, at) if self._names_ok(kept) else None

    def _names_ok(self, names: tuple[str, ...]) -> bool:
        limits = self.limits
        return (
            len(names) <= limits.max_features
            and (not names or max(map(len, names)) <= limits.max_string_length)
            and "".join(names).isascii()
            and not self.scrubber.changes_keys(names)
        )

    # --- features -----------------------------------------------------------------

    def _features(self, objs: list[dict[str, Any]], ok: Bools, cols: _Columns) -> None:
        feats: list[Any] = [d.get("features") for d in objs]
        kinds = set(map(type, feats))
        if kinds != {dict}:
            is_dict = np.fromiter((type(f) is dict for f in feats), np.bool_, len(feats))
            ok &= is_dict
            feats = [f if type(f) is dict else {} for f in feats]
        keysets = list(map(tuple, feats))
        distinct = set(keysets)
        if len(distinct) == 1:
            names = keysets[0]
            kept = self._kept(names)
            if kept is None:
                ok[:] = False
                return
            if kept[0]:
                n, k = len(feats), len(names)
                flat = np.fromiter(chain.from_iterable(map(dict.values, feats)), object, n * k)
                table = flat.reshape(n, k)
                columns = [table[:, j] for j in kept[1]]
                self._feature_columns(kept[0], columns, None, ok, cols)
            return
        groups: dict[tuple[str, ...], list[int]] = {}
        for j, names in enumerate(keysets):
            groups.setdefault(names, []).append(j)
        for names, rows in groups.items():
            where = np.asarray(rows, dtype=np.int64)
            kept = self._kept(names)
            if kept is None:
                ok[where] = False
                continue
            if kept[0]:
                values = list(zip(*(feats[j].values() for j in rows), strict=True))
                group: list[Any] = [values[j] for j in kept[1]]
                self._feature_columns(kept[0], group, where, ok, cols)

    def _feature_columns(
        self,
        names: tuple[str, ...],
        columns: Sequence[Any],
        where: npt.NDArray[np.int64] | None,
        ok: Bools,
        cols: _Columns,
    ) -> None:
        """One group of events sharing their feature names: a column per name."""
        for name, values in zip(names, columns, strict=True):
            kinds = set(map(type, values))
            if kinds and kinds <= _NUMBERS:
                numbers = np.array(values, dtype=np.float64)
                cols.put_num(name, numbers, where, ok, _exact_numbers(numbers))
            elif kinds == {str}:
                texts, good = self._scrubbed(values)
                cols.put_cat(name, texts, where, ok, good)
            elif kinds == {bool}:
                flags = np.array(values, dtype=np.bool_)
                cols.put_cat(name, _booleans(flags), where, ok, None)
            else:
                self._mixed_column(name, values, where, ok, cols)

    def _mixed_column(
        self,
        name: str,
        values: Sequence[Any],
        where: npt.NDArray[np.int64] | None,
        ok: Bools,
        cols: _Columns,
    ) -> None:
        """A feature whose events disagree on its type: split it row by row."""
        numbers, labels, good = self._split(values)
        if numbers is not None:
            cols.put_num(name, numbers, where, ok, None)
        if labels is not None:
            cols.put_cat(name, labels, where, ok, None)
        _and_at(ok, where, good)

    def _split(self, values: Sequence[Any]) -> tuple[Any, Any, Bools]:
        """Scalars of mixed types: the numbers (NaN elsewhere, None if there are none), the
        labels of strings and bools (None elsewhere, or at all), and which rows the fast
        path vouches for (an exact number, a clean string or a bool)."""
        types = _type_codes(values)
        is_num, is_str, is_bool = types == _NUM, types == _STR, types == _BOOL
        good = is_num | is_str | is_bool
        n = len(values)
        numbers = labels = None
        if is_num.any():
            numbers = np.full(n, _NAN)
            rows = np.flatnonzero(is_num)
            numbers[rows] = np.array([values[j] for j in rows.tolist()], dtype=np.float64)
            good &= ~is_num | _exact_numbers(numbers)
        if is_str.any() or is_bool.any():
            labels = np.full(n, None, dtype=object)
            rows = np.flatnonzero(is_str)
            if rows.size:
                texts, fine = self._scrubbed([values[j] for j in rows.tolist()])
                labels[rows] = texts
                if fine is not None:
                    good[rows] &= fine
            rows = np.flatnonzero(is_bool)
            if rows.size:
                flags = np.array([values[j] for j in rows.tolist()], dtype=np.bool_)
                labels[rows] = _booleans(flags)
        return numbers, labels, good

    # --- strings ------------------------------------------------------------------

    def _strings_ok(self, values: Sequence[str], *, ids: bool) -> Bools | None:
        """Per value: within the length limit, ASCII and left alone by the redactor
        (None: all of them). Judged once per distinct value."""
        max_len = self.limits.max_string_length
        if ids and max(map(len, values)) <= max_len and surely_clean(values):
            return None  # ids are mostly distinct: proved clean (and ASCII) without a set
        distinct = list(set(values))
        if self._untouched(distinct):
            return None
        redact = self.scrubber.redactor.redact
        bad = {
            v
            for v in distinct
            if len(v) > max_len or not v.isascii() or redact(v, ids=ids) is not v
        }
        if not bad:
            return None
        return np.fromiter((v not in bad for v in values), np.bool_, len(values))

    def _untouched(self, distinct: list[str]) -> bool:
        """True only if every one of ``distinct`` is within the length limit, ASCII and
        surely left alone by the redactor (off, or :func:`surely_clean` vouches)."""
        redactor = self.scrubber.redactor
        return (
            max(map(len, distinct)) <= self.limits.max_string_length
            and "".join(distinct).isascii()
            and (not redactor.enabled or surely_clean(distinct))
        )

    def _rememberable(self, text: str, ident: bool) -> bool:
        """Whether the typed stage may keep ``text`` in a vocabulary: PII never is.

        A feature string counts when the redactor already remembers it as clean (it
        judged it in an earlier batch) or :func:`surely_clean` vouches for it; nothing
        new is redacted here, so a PII value costs no second look. A model or version
        string (ids, which the redactor never remembers) is asked once.
        """
        redactor = self.scrubber.redactor
        if not redactor.enabled or surely_clean((text,)):
            return True
        if ident:
            return redactor.redact(text, ids=True) is text
        return redactor.remembers(text)

    def _scrubbed(self, values: Sequence[str]) -> tuple[Any, Bools | None]:
        """A feature's strings as scrubbing leaves them (masked or hashed by the value
        redactor where it finds PII, as the exact path stores them), and which of them
        the fast path vouches for (None: all): within the length limit and ASCII once
        redacted; a value the redactor drops falls back.

        Each distinct value is redacted once: PII is never remembered by the
        redactor, and finding it (a phone number's validation above all) is what a
        column holding it costs.
        """
        column = _objects(values)
        max_len = self.limits.max_string_length
        distinct = list(set(values))
        if self._untouched(distinct):
            return column, None
        redact = self.scrubber.redactor.redact
        verdicts: dict[str, bool] = {}
        swaps: dict[str, str] = {}
        for value in distinct:
            new = redact(value, ids=False)
            if new is value:
                verdicts[value] = len(value) <= max_len and value.isascii()
            elif type(new) is str and len(new) <= max_len and new.isascii():
                verdicts[value] = True
                swaps[value] = new
            else:
                verdicts[value] = False
        if swaps:
            for j, value in enumerate(values):
                new = swaps.get(value)
                if new is not None:
                    column[j] = new
        if all(verdicts.values()):
            return column, None
        return column, np.fromiter(map(verdicts.__getitem__, values), np.bool_, len(values))

    def _text(self, values: list[Any], ok: Bools, *, ids: bool) -> Any:
        """An optional string field: "" where absent or null."""
        kinds = set(map(type, values))
        if kinds == {str}:
            fine = self._strings_ok(values, ids=ids)
            if fine is not None:
                ok &= fine
            return _objects(values)
        if kinds <= {str, type(None)}:
            texts = ["" if v is None else v for v in values]
            fine = self._strings_ok(texts, ids=ids)
            if fine is not None:
                ok &= fine
            return _objects(texts)
        texts = [v if type(v) is str else "" for v in values]
        ok &= np.fromiter((v is None or type(v) is str for v in values), np.bool_, len(values))
        fine = self._strings_ok(texts, ids=ids)
        if fine is not None:
            ok &= fine
        return _objects(texts)

    def _model(self, values: list[Any], ok: Bools, known: Callable[[str], bool]) -> Any:
        max_len = self.limits.max_string_length
        redact = self.scrubber.redactor.redact

        def fine(model: Any) -> bool:
            return (
                type(model) is str
                and len(model) <= max_len
                and _MODEL_RE.match(model) is not None
                and redact(model) is model
                and known(model)
            )

        if set(map(type, values)) != {str}:
            values = [v if type(v) is str else None for v in values]
        verdicts = {model: fine(model) for model in set(values)}
        if not all(verdicts.values()):
            ok &= _rows(values, verdicts)
        return _objects(["" if v is None else v for v in values] if None in verdicts else values)

    # --- numbers ------------------------------------------------------------------

    def _prediction(self, values: list[Any], ok: Bools) -> tuple[Any, Any]:
        kinds = set(map(type, values))
        n = len(values)
        if kinds and kinds <= _NUMBERS:
            numbers = np.array(values, dtype=np.float64)
            ok &= _exact_numbers(numbers)
            return numbers, _objects([""] * n)
        numbers, labels, good = self._split(values)
        ok &= good
        if numbers is None:
            numbers = np.full(n, _NAN)
        if labels is None:
            return numbers, _objects([""] * n)
        return numbers, np.where(labels == None, "", labels)  # noqa: E711 (elementwise)

    def _latency(self, values: list[Any], ok: Bools) -> Any:
        kinds = set(map(type, values))
        n = len(values)
        if kinds and kinds <= _NUMBERS:
            numbers = np.array(values, dtype=np.float64)
        elif kinds == {type(None)}:
            return np.full(n, _NAN)
        else:
            types = _type_codes(values)
            is_num = types == _NUM
            ok &= is_num | (types == _NONE)
            numbers = np.full(n, _NAN)
            rows = np.flatnonzero(is_num)
            numbers[rows] = np.array([values[j] for j in rows.tolist()], dtype=np.float64)
            ok &= ~is_num | (_exact_numbers(numbers) & (numbers >= 0))
            return numbers
        ok &= _exact_numbers(numbers) & (numbers >= 0)
        return numbers

    def _timestamp(self, values: list[Any], ok: Bools, received: Any) -> Any:
        kinds = set(map(type, values))
        n = len(values)
        if kinds == {type(None)}:
            return received.copy()
        if kinds == {str}:
            stamps, good = parse_rfc3339_ms(values)
            ok &= good
            return stamps
        stamps = received.copy()
        types = _type_codes(values)
        is_str = types == _STR
        is_int = np.fromiter((type(v) is int for v in values), np.bool_, n)
        good = is_str | is_int | (types == _NONE)
        rows = np.flatnonzero(is_str)
        if rows.size:
            parsed, fine = parse_rfc3339_ms([values[j] for j in rows.tolist()])
            stamps[rows] = parsed
            good[rows] &= fine
        rows = np.flatnonzero(is_int)
        if rows.size:
            ints = [values[j] for j in rows.tolist()]
            fine = np.fromiter(
                (v == 0 or MIN_EPOCH_MS <= v < MAX_EPOCH_MS for v in ints), np.bool_, len(ints)
            )
            stamps[rows] = [v if f else 0 for v, f in zip(ints, fine.tolist(), strict=True)]
            good[rows] &= fine
        ok &= good
        return stamps


_KIND: dict[type, type] = {int: float, float: float, str: str, bool: bool}
"""A JSON scalar's type → the attribute type of the typed stage (integers become floats,
as every numeric column is float64)."""
_SHAPE_LIMIT = 256
_SHAPE_PROBES = 8


_EVENT_FIELDS = (
    "model",
    "features",
    "prediction",
    "event_id",
    "model_version",
    "timestamp",
    "request_id",
    "latency_ms",
)
"""The typed stage's top-level attributes, in the Struct's order."""
_EVENT_AT = {name: j for j, name in enumerate(_EVENT_FIELDS)}
_VOCABULARY_LIMIT = 128
"""Distinct strings of a column beyond which it is decoded as plain strings."""
_VOCABULARY_LENGTH = 64
_DECODE_ERRORS = (msgspec.DecodeError, ValueError)


@dataclass(slots=True)
class _Shape:
    """Events with one feature key set, one type per feature and one prediction type,
    as a msgspec Struct: decoding fails (and the event goes to the orjson stage) on
    any other key, a missing feature, another type, a null where none is allowed.

    Only conversions the fast path makes itself are left to msgspec: an integer
    decoded into a float attribute is the float the column would hold (beyond 2**53
    it is refused by the exactness check either way). Duplicate keys keep the last
    value, as orjson does; NaN literals, lone surrogates, invalid UTF-8 and control
    characters fail to decode (``tests/collector/test_fastpath.py`` holds the cases).

    Vocabularies: the strings seen so far in ``model``, ``model_version`` and each
    string feature (while a column has at most ``_VOCABULARY_LIMIT`` distinct short
    ones) make a second Struct whose attributes are ``Literal`` types, tried first.
    msgspec then hands back the one stored string object for each of those values
    instead of a new string per event (no allocation, no freeing, hashes cached); the
    values are equal, so nothing else changes. A value outside the vocabulary fails
    that decoder alone: the event is decoded by the plain Struct and its strings join
    the vocabulary for the next batches.
    """

    names: tuple[str, ...]
    kinds: tuple[type, ...]
    prediction: type
    decoder: msgspec.json.Decoder[Any]
    literal: msgspec.json.Decoder[Any] | None = None
    """The decoder with the vocabularies (None: none learnt yet)."""
    vocabulary: dict[str, frozenset[str] | None] = field(default_factory=dict)
    """Strings seen per column (``model``, ``model_version``, ``f<j>``); None: too many."""

    @classmethod
    def build(cls, names: tuple[str, ...], kinds: tuple[type, ...], prediction: type) -> _Shape:
        return cls(names, kinds, prediction, _decoder(names, kinds, prediction, {}))

    def decode(
        self, values: list[Any], positions: Sequence[int], clean: Callable[[str, bool], bool]
    ) -> tuple[list[Any], Sequence[int], list[int]]:
        """The Structs of the values that fit the shape, their positions, and the
        positions of those that do not.

        The literal decoder (known strings as shared objects) is tried first, in one
        pass that skips a value it refuses and resumes after it; only the refused
        values are tried again with the plain decoder (an unseen string fits it,
        another shape or anything odd does not)."""
        plain = self.decoder.decode
        if self.literal is None:
            objs, rest = _decode_all(plain, values, positions)
            self.learn(objs, clean)
            return objs, (_without(positions, rest) if rest else positions), rest
        objs, missed = _decode_all(self.literal.decode, values, positions)
        if not missed:
            return objs, positions, []
        value_at = dict(zip(positions, values, strict=True))
        again: list[tuple[int, Any]] = []
        rest = []
        for i in missed:
            try:
                again.append((i, plain(value_at[i])))
            except _DECODE_ERRORS:
                rest.append(i)
        pos = _without(positions, missed)
        if not again:
            return objs, pos, rest
        self.learn([obj for _, obj in again], clean)
        merged = sorted(chain(zip(pos, objs, strict=True), again), key=itemgetter(0))
        return [obj for _, obj in merged], [i for i, _ in merged], rest

    def learn(self, objs: list[Any], clean: Callable[[str, bool], bool]) -> None:
        """Widen the vocabularies by the strings of ``objs`` that ``clean`` (text,
        whether it is an id) vouches for; rebuild the literal decoder if any changed."""
        if not objs:
            return
        keys = ["model", "model_version"]
        keys.extend(f"f{j}" for j, kind in enumerate(self.kinds) if kind is str)
        grew = False
        for key in keys:
            known = self.vocabulary.get(key, frozenset())
            if known is None:
                continue
            path = key if key.startswith("model") else f"features.{key}"
            seen = set(map(attrgetter(path), objs))
            seen.discard(None)
            fresh = seen - known
            if not fresh:
                continue
            if (
                len(known) + len(fresh) > _VOCABULARY_LIMIT
                or max(map(len, fresh)) > _VOCABULARY_LENGTH
            ):
                self.vocabulary[key] = None
                grew = True
                continue
            # only strings the redactor leaves alone are remembered: a value it would
            # mask or hash is decoded plainly each time, never kept
            ident = key.startswith("model")
            kept = {text for text in fresh if clean(text, ident)}
            if kept:
                self.vocabulary[key] = known | kept
                grew = True
        if grew:
            words = {k: v for k, v in self.vocabulary.items() if v}
            literal = _decoder(self.names, self.kinds, self.prediction, words) if words else None
            self.literal = literal


def _decoder(
    names: tuple[str, ...],
    kinds: tuple[type, ...],
    prediction: type,
    words: dict[str, frozenset[str]],
) -> msgspec.json.Decoder[Any]:
    """The Struct decoder of a shape; the columns in ``words`` as ``Literal`` types."""

    def typed(key: str, kind: Any) -> Any:
        known = words.get(key)
        return kind if not known else Literal.__getitem__(tuple(sorted(known)))

    attrs = [f"f{j}" for j in range(len(names))]
    pairs = zip(attrs, kinds, strict=True)
    types = [_NUMBER if kind is float else typed(a, kind) for a, kind in pairs]
    features = msgspec.defstruct(
        "Features",
        list(zip(attrs, types, strict=True)),
        rename=dict(zip(attrs, names, strict=True)),
        forbid_unknown_fields=True,
        gc=False,
    )
    top: dict[str, Any] = {
        "model": typed("model", str),
        "features": features,
        "prediction": prediction,
        "event_id": str | None,
        "model_version": typed("model_version", str) | None,
        "timestamp": str | int | None,
        "request_id": str | None,
        "latency_ms": float | None,
    }
    required = ("model", "features", "prediction")
    event = msgspec.defstruct(
        "Event",
        [(k, top[k]) if k in required else (k, top[k], None) for k in _EVENT_FIELDS],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(event)


def _decode_all(
    decode: Callable[[Any], Any], values: list[Any], positions: Sequence[int]
) -> tuple[list[Any], list[int]]:
    """``decode`` of every value that fits, and the positions of those that do not.

    One ``extend`` over one iterator: a value that fails is skipped where it failed
    and decoding resumes after it, so a batch with a few odd values costs no more
    than a clean one (no second pass one by one).
    """
    objs: list[Any] = []
    rest: list[int] = []
    values_left = iter(values)
    while True:
        try:
            objs.extend(map(decode, values_left))
        except _DECODE_ERRORS:  # the value at this count failed
            rest.append(positions[len(objs) + len(rest)])
        else:
            return objs, rest


def _without(positions: Sequence[int], rest: list[int]) -> list[int]:
    """``positions`` less ``rest`` (both ascending), in order."""
    skip = set(rest)
    return [i for i in positions if i not in skip]


def _getter(objs: list[dict[str, Any]]) -> Callable[[str], list[Any]]:
    return lambda key: [d.get(key) for d in objs]


_NUMBER: Any = int | float
"""A numeric feature's attribute type: JSON integers stay Python ints (the small ones are
shared objects, not a new float per event) and become the float64 that
``float(value)`` gives, the float msgspec would have decoded them into."""


def _floats(values: list[Any]) -> Any:
    """Numbers (ints and floats) as float64; an int too large for a float becomes inf,
    which the exactness check refuses (as it refuses any number past 2**53)."""
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        return np.array(list(map(_float_or_inf, values)), dtype=np.float64)


def _float_or_inf(value: float) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _flat(structs: Sequence[Any]) -> list[Any]:
    """The attributes of ``structs``, one after the other."""
    return list(chain.from_iterable(map(msgspec.structs.astuple, structs)))


class _Columns:
    """Feature columns over all decoded events of a batch, filled group by group."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.num: dict[str, Any] = {}
        self.cat: dict[str, Any] = {}

    def put_num(self, name: str, values: Any, where: Any, ok: Bools, good: Bools | None) -> None:
        if where is None and name not in self.num:
            self.num[name] = values
        else:
            column = self.num.get(name)
            if column is None:
                column = self.num[name] = np.full(self.n, _NAN)
            column[slice(None) if where is None else where] = values
        if good is not None:
            _and_at(ok, where, good)

    def put_cat(self, name: str, values: Any, where: Any, ok: Bools, good: Bools | None) -> None:
        if where is None and name not in self.cat:
            self.cat[name] = values
        else:
            column = self.cat.get(name)
            if column is None:
                column = self.cat[name] = np.full(self.n, None, dtype=object)
            rows = slice(None) if where is None else where
            if where is None:
                present = values != None  # noqa: E711 (elementwise)
                column[present] = values[present]
            else:
                column[rows] = values
        if good is not None:
            _and_at(ok, where, good)


_NUMBERS = frozenset({int, float})
_OTHER, _NUM, _STR, _BOOL, _NONE = range(5)


class _TypeCodes(dict[type, int]):
    def __missing__(self, key: type) -> int:
        return _OTHER


_CODES = _TypeCodes({float: _NUM, int: _NUM, str: _STR, bool: _BOOL, type(None): _NONE})


def _type_codes(values: Sequence[Any]) -> Any:
    """Each value's kind: number, string, bool, null or anything else."""
    return np.fromiter(map(_CODES.__getitem__, map(type, values)), np.int8, len(values))


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Decoding a batch allocates tens of thousands of containers, each allocation
    counting towards a cyclic garbage collection that then walks them all; the fast
    path makes no reference cycles, so the collector waits until it is done."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _and_at(ok: Bools, where: Any, good: Bools) -> None:
    if where is None:
        ok &= good
    else:
        ok[where] &= good


def _rows(values: list[Any], verdicts: dict[Any, bool]) -> Bools:
    if all(verdicts.values()):
        return np.ones(len(values), dtype=np.bool_)
    return np.fromiter(map(verdicts.__getitem__, values), np.bool_, len(values))


def _objects(values: Sequence[Any]) -> Any:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_TRUE_FALSE = np.array(["false", "true"], dtype=object)


def _booleans(flags: Bools) -> Any:
    return _TRUE_FALSE[flags.astype(np.int64)]


def _exact_numbers(numbers: Any) -> Bools:
    """Finite and within ±2**53 (where float64 holds every integer exactly)."""
    return np.abs(numbers) <= _EXACT_INT  # type: ignore[no-any-return]  # NaN compares False


def parse_rfc3339_ms(texts: Sequence[str]) -> tuple[Any, Bools]:
    """Epoch ms of RFC 3339 timestamps in the forms the fast path parses, and whether
    each was one (and in range); the rest are left to
    :func:`~driftd.events.parse_timestamp_ms`.

    >>> ms, ok = parse_rfc3339_ms(["2026-11-28T17:48:13.123Z", "2026-11-28T18:48:13.123+01:00",
    ...                            "2026-11-28 17:48:13", "2026-02-30T00:00:00"])
    >>> ms[:2].tolist(), ok.tolist()
    ([1795888093123, 1795888093123], [True, True, False, False])
    """
    n = len(texts)
    out = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    if not n:
        return out, ok
    lengths = np.fromiter(map(len, texts), np.int64, n)
    for length in np.unique(lengths).tolist():
        form = _FORMS.get(length)
        if form is None:
            continue
        if lengths.size and (lengths == length).all():
            rows = None
            chunk: Sequence[str] = texts
        else:
            rows = np.flatnonzero(lengths == length)
            chunk = [texts[j] for j in rows.tolist()]
        ms, fine = _parse_form(chunk, length, *form)
        if rows is None:
            out, ok = ms, fine
        else:
            out[rows] = ms
            ok[rows] = fine
    return out, ok


def _parse_form(texts: Sequence[str], length: int, frac: int, zone: str) -> tuple[Any, Bools]:
    # One byte per character; every position is a digit or a separator, checked below.
    raw = "".join(texts).encode("utf-8", "surrogatepass")
    if len(raw) == len(texts) * length:  # all ASCII (the usual case)
        codes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, length)
    else:  # some character is not ASCII: it becomes NUL, which no position accepts
        wide = np.array(texts, dtype=f"<U{length}").view(np.uint32).reshape(-1, length)
        codes = np.where(wide < 128, wide, 0).astype(np.uint8)
    digits = codes - np.uint8(48)  # wraps below "0": a digit is exactly a value <= 9
    fine = np.ones(codes.shape[0], dtype=np.bool_)
    positions = list(_DATE_DIGITS)
    separators = list(_DATE_SEPARATORS)
    end = 19
    if frac:
        separators.append((19, "."))
        positions.extend(range(20, 20 + frac))
        end = 20 + frac
    if zone == "Z":
        separators.append((end, "Z"))
    elif zone == "±":
        positions.extend((end + 1, end + 2, end + 4, end + 5))
        separators.append((end + 3, ":"))
        sign_code = codes[:, end]
        fine &= (sign_code == ord("+")) | (sign_code == ord("-"))
    for at, char in separators:
        fine &= codes[:, at] == ord(char)
    fine &= (digits[:, positions] <= 9).all(axis=1)

    def number(start: int, width: int) -> Any:  # exact where ``fine`` (all digits)
        value = digits[:, start].astype(np.int64)
        for k in range(start + 1, start + width):
            value = value * 10 + digits[:, k]
        return value

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    safe_month = np.clip(month, 0, 12)
    days_in_month = month_days[safe_month] + ((safe_month == 2) & leap)
    fine &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    fine &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # days since 1970-01-01 of the proleptic Gregorian date (Howard Hinnant's algorithm)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146_097 + doe - 719_468
    ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000
    if frac == 3:
        ms += number(20, 3)
    elif frac == 6:
        ms += number(20, 6) // 1000
    if zone == "±":
        off_h, off_m = number(end + 1, 2), number(end + 4, 2)
        fine &= (off_h <= 23) & (off_m <= 59)
        offset = (off_h * 60 + off_m) * 60_000
        ms = np.where(codes[:, end] == ord("-"), ms + offset, ms - offset)
    fine &= (ms >= 0) & (ms < MAX_EPOCH_MS)
    return np.where(fine, ms, 0), fine
