"""The event contract: prediction and outcome events, validated without I/O.

An event arrives as a JSON object (Kafka value or HTTP body). :func:`decode`
turns bytes into a ``dict``; :func:`parse_prediction` and :func:`parse_outcome`
check it against the contract and return a compact record, or raise
:class:`~driftd.errors.EventError` with a short reason code that becomes the
dead letter's ``reason`` header.

The hot path validates by hand rather than through pydantic: at tens of
thousands of events a second a model validation per event costs more than the
rest of the pipeline. The pydantic models at the bottom of this module describe
the same contract for the HTTP API's OpenAPI schema; ``tests/test_events.py``
keeps the two in agreement.

Decisions the design left open (also in ``docs/events.md``):

* NaN in a feature is how pandas spells "missing": it is stored as null.
  ±Infinity anywhere, or NaN as the prediction or outcome, rejects the event
  (reason ``non_finite``).
* Booleans are categorical: stored as ``"true"``/``"false"``.
* Integers are numbers (float64); a feature is numeric or categorical by the
  JSON type of its value, and the baseline decides how it is monitored.
* Unknown top-level keys are ignored (never stored).
* ``timestamp`` is RFC 3339 (``Z`` or offset; naive means UTC) or epoch
  milliseconds; absent means the time of arrival.
* A string that is not valid Unicode (a lone surrogate such as ``"\\ud800"``,
  which JSON escapes allow but UTF-8 cannot encode) is rejected
  (``invalid_string``) wherever it would be stored; NUL characters are kept
  (ClickHouse strings are bytes). An integer beyond float64 is ``non_finite``
  as soon as it is decoded, so nothing downstream ever serialises it.

>>> rec = parse_prediction({"model": "m", "features": {"x": 1, "c": "a"}, "prediction": 0.5},
...                        received_ms=1_700_000_000_000)
>>> rec.num, rec.cat, rec.pred_num, rec.timestamp_ms
({'x': 1.0}, {'c': 'a'}, 0.5, 1700000000000)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from driftd.errors import DecodeError, EventError

__all__ = [
    "MAX_EPOCH_MS",
    "MIN_EPOCH_MS",
    "MODEL_NAME_PATTERN",
    "Coordinates",
    "EventLimits",
    "OutcomeEvent",
    "OutcomeRecord",
    "PredictionEvent",
    "PredictionRecord",
    "decode",
    "parse_outcome",
    "parse_prediction",
    "parse_timestamp_ms",
    "printable",
]

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_MODEL_RE = re.compile(MODEL_NAME_PATTERN)
_MAX_SEGMENTS = 32
_NUMBER = (int, float)  # a tuple: isinstance() with a union builds it on every call
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MAX_EPOCH_MS = 32_503_680_000_000  # year 3000
MAX_EPOCH_MS = _MAX_EPOCH_MS
"""Epoch ms from here on (the year 3000) are refused."""
MIN_EPOCH_MS = 100_000_000_000
"""Numeric times are epoch ms; 1 to this (1973-03-03 as ms, 1973 to 5138 as seconds) are
refused as epoch seconds sent by mistake, never silently read as 1970. 0 means the epoch."""
_LONG_INT_DIGITS = 18  # longer integer literals are parsed as floats (float64 anyway)


@dataclass(frozen=True, slots=True)
class EventLimits:
    """Size limits every event (and every HTTP request) is held to (``limits.*``)."""

    max_payload_bytes: int = 65_536
    max_features: int = 500
    max_string_length: int = 1_024
    max_events_per_request: int = 10_000
    max_dead_letters_per_request: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_payload_bytes",
            "max_features",
            "max_string_length",
            "max_events_per_request",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_dead_letters_per_request < 0:
            raise ValueError("max_dead_letters_per_request must be >= 0")


DEFAULT_LIMITS = EventLimits()


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where a Kafka message came from; the idempotency key when ``event_id`` is absent."""

    topic: str
    partition: int
    offset: int

    def event_id(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(slots=True)
class PredictionRecord:
    """A validated prediction event, split by type for columnar storage."""

    event_id: str
    model: str
    model_version: str
    timestamp_ms: int
    received_ms: int
    request_id: str
    num: dict[str, float]
    cat: dict[str, str]
    nulls: list[str]
    pred_num: float | None
    pred_label: str
    pred_proba: dict[str, float]
    segments: dict[str, str]
    latency_ms: float | None
    source: Coordinates | None = None


@dataclass(slots=True)
class OutcomeRecord:
    """A validated outcome (ground truth), joined later to its prediction by request id."""

    event_id: str
    model: str
    request_id: str
    timestamp_ms: int
    received_ms: int
    outcome_num: float | None
    outcome_label: str
    source: Coordinates | None = field(default=None)


def decode(payload: bytes, limits: EventLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Decode one JSON object; raise :class:`DecodeError` with a reason code.

    >>> decode(b'{"a": 1}')
    {'a': 1}
    >>> decode(b'[1]')
    Traceback (most recent call last):
    ...
    driftd.errors.DecodeError: not_an_object: expected a JSON object, got list
    """
    if len(payload) > limits.max_payload_bytes:
        raise DecodeError(
            "too_large", f"{len(payload)} bytes exceeds the limit of {limits.max_payload_bytes}"
        )
    obj = loads(payload)
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def loads(payload: bytes) -> Any:
    """Parse JSON as the contract reads it: NaN/Infinity literals allowed, huge integers
    turned into floats (an integer literal beyond float64 becomes infinity, hence
    ``non_finite``); raise :class:`DecodeError` (``invalid_json``) otherwise.

    >>> loads(b'[1, NaN]')
    [1, nan]
    >>> loads(b'{"big": ' + b'9' * 400 + b'}')
    {'big': inf}
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        # orjson refuses NaN/Infinity literals, which Python producers emit, lone
        # surrogate escapes and integers beyond 64 bits; the stdlib parser takes
        # them so the validator can judge each value (and name the field).
        try:
            return json.loads(payload, parse_int=_parse_int)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise DecodeError("invalid_json", printable(_short(str(exc)))) from None


def _parse_int(text: str) -> int | float:
    # int() of a 5,000-digit literal raises (CPython's digit limit) and orjson cannot
    # write an integer beyond 64 bits: keep long literals as what driftd stores, a float.
    return int(text) if len(text) <= _LONG_INT_DIGITS else float(text)


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode escaped, safe for logs, headers and storage.

    >>> printable("caf\\xe9 \\ud800")
    'café \\\\ud800'
    """
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _text(value: str, what: str) -> str:
    """Refuse a string UTF-8 cannot encode (a lone surrogate): storage would refuse it."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventError(
                "invalid_string", f"{printable(what)} is not valid Unicode (a lone surrogate)"
            ) from None
    return value


def _string(obj: dict[str, Any], key: str, limits: EventLimits, *, required: bool) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise EventError("missing_field", f"'{key}' is required")
        return ""
    if not isinstance(value, str):
        raise EventError("invalid_type", f"'{key}' must be a string, got {type(value).__name__}")
    if len(value) > limits.max_string_length:
        raise EventError("too_long", f"'{key}' is longer than {limits.max_string_length}")
    return _text(value, f"'{key}'")


def parse_timestamp_ms(value: Any, key: str = "timestamp") -> int:
    """RFC 3339 string (naive = UTC) or epoch milliseconds → epoch milliseconds.

    >>> parse_timestamp_ms("2026-11-28T17:48:13.123Z")
    1795888093123
    >>> parse_timestamp_ms(1795888093123)
    1795888093123
    >>> parse_timestamp_ms(1764500000)
    Traceback (most recent call last):
    ...
    driftd.errors.EventError: invalid_timestamp: 'timestamp' is epoch milliseconds; 1764500000 \
looks like epoch seconds (as ms it is before 1973-03-03): send 1764500000000 or RFC 3339
    """
    if isinstance(value, bool):
        raise EventError("invalid_timestamp", f"'{key}' must be RFC 3339 or epoch ms, got bool")
    if isinstance(value, _NUMBER):
        if not 0 <= value < _MAX_EPOCH_MS:  # also refuses NaN
            raise EventError("invalid_timestamp", f"'{key}' epoch ms out of range: {value}")
        if 0 < value < MIN_EPOCH_MS:
            raise EventError(
                "invalid_timestamp",
                f"'{key}' is epoch milliseconds; {value} looks like epoch seconds "
                f"(as ms it is before 1973-03-03): send {int(value * 1000)} or RFC 3339",
            )
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventError("invalid_timestamp", f"'{key}' is not RFC 3339") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            ms = (parsed - _EPOCH) // _ONE_MS
        except OverflowError:  # an offset pushing the year out of datetime's range
            ms = -1
        if not 0 <= ms < _MAX_EPOCH_MS:
            raise EventError("invalid_timestamp", f"'{key}' is before 1970 or after 2999")
        return ms
    raise EventError(
        "invalid_timestamp", f"'{key}' must be RFC 3339 or epoch ms, got {type(value).__name__}"
    )


def _model(obj: dict[str, Any], limits: EventLimits) -> str:
    model = _string(obj, "model", limits, required=True)
    if not _MODEL_RE.match(model):
        raise EventError(
            "invalid_model",
            "'model' must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}",
        )
    return model


def _event_id(obj: dict[str, Any], source: Coordinates | None, limits: EventLimits) -> str:
    event_id = _string(obj, "event_id", limits, required=False)
    if event_id:
        return event_id
    return source.event_id() if source is not None else ""


def _timestamp(obj: dict[str, Any], received_ms: int) -> int:
    value = obj.get("timestamp")
    return received_ms if value is None else parse_timestamp_ms(value)


def _split_features(
    features: Any, limits: EventLimits
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    if not isinstance(features, dict):
        raise EventError(
            "invalid_type", f"'features' must be an object, got {type(features).__name__}"
        )
    if len(features) > limits.max_features:
        raise EventError("too_many_features", f"{len(features)} > {limits.max_features}")
    num: dict[str, float] = {}
    cat: dict[str, str] = {}
    nulls: list[str] = []
    max_len = limits.max_string_length
    if features and max(map(len, features)) > max_len:
        raise EventError("too_long", f"a feature name is longer than {max_len}")
    for name in features:
        if not name.isascii():
            _text(name, "a feature name")
    for name, value in features.items():
        kind = type(value)
        if kind is float:
            if value - value == 0.0:  # finite (NaN and ±inf give NaN here)
                num[name] = value
            elif math.isnan(value):  # missing
                nulls.append(name)
            else:
                raise EventError("non_finite", f"feature '{name}' is infinite")
        elif kind is str:
            if len(value) > max_len:
                raise EventError("too_long", f"feature '{name}' is longer than {max_len}")
            cat[name] = value if value.isascii() else _text(value, f"feature '{name}'")
        elif kind is int:
            num[name] = _int_to_float(value, name)
        elif kind is bool:
            cat[name] = "true" if value else "false"
        elif value is None:
            nulls.append(name)
        else:
            raise EventError(
                "invalid_feature_type",
                f"feature '{name}' must be a number, string, bool or null, got {kind.__name__}",
            )
    return num, cat, nulls


def _int_to_float(value: int, key: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64 (the stdlib parser allows them)
        raise EventError("non_finite", f"'{key}' is too large for a float64") from None


def _finite(value: float, key: str) -> float:
    number = _int_to_float(value, key) if type(value) is int else float(value)
    if not math.isfinite(number):
        raise EventError("non_finite", f"'{key}' is not finite")
    return number


def _scalar(value: Any, key: str, limits: EventLimits) -> tuple[float | None, str]:
    """A number, string or bool → (numeric value, label)."""
    if isinstance(value, bool):
        return None, "true" if value else "false"
    if isinstance(value, _NUMBER):
        return _finite(value, key), ""
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise EventError("too_long", f"'{key}' is longer than {limits.max_string_length}")
        return None, _text(value, f"'{key}'")
    raise EventError(
        "invalid_type", f"'{key}' must be a number, string or bool, got {type(value).__name__}"
    )


def _prediction(value: Any, limits: EventLimits) -> tuple[float | None, str, dict[str, float]]:
    if isinstance(value, dict):
        if not value:
            raise EventError("invalid_prediction", "'prediction' object has no classes")
        if len(value) > limits.max_features:
            raise EventError(
                "invalid_prediction", f"'prediction' has more than {limits.max_features} classes"
            )
        proba: dict[str, float] = {}
        for label, p in value.items():
            if isinstance(p, bool) or not isinstance(p, _NUMBER):
                raise EventError("invalid_prediction", f"probability of '{label}' is not a number")
            name = _text(str(label)[: limits.max_string_length], "a class of 'prediction'")
            proba[name] = _finite(p, "prediction")
        top = max(proba, key=proba.__getitem__)
        return proba[top], top, proba
    if value is None:
        raise EventError("missing_field", "'prediction' is required")
    num, label = _scalar(value, "prediction", limits)
    return num, label, {}


def _segments(value: Any, limits: EventLimits) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError("invalid_type", "'segments' must be an object")
    if len(value) > _MAX_SEGMENTS:
        raise EventError("too_many_segments", f"{len(value)} > {_MAX_SEGMENTS}")
    out: dict[str, str] = {}
    for key, tag in value.items():
        if isinstance(tag, (dict, list)) or tag is None:
            raise EventError("invalid_type", f"segment '{key}' must be a string, number or bool")
        if len(key) > limits.max_string_length:
            raise EventError("too_long", "a segment name is too long")
        _text(key, "a segment name")
        if isinstance(tag, float) and not math.isfinite(tag):
            raise EventError("non_finite", f"segment '{key}' is not finite")
        text = str(tag).lower() if isinstance(tag, bool) else str(tag)
        if len(text) > limits.max_string_length:
            raise EventError("too_long", f"segment '{key}' is too long")
        out[key] = _text(text, f"segment '{key}'")
    return out


def parse_prediction(
    obj: dict[str, Any],
    *,
    received_ms: int,
    source: Coordinates | None = None,
    limits: EventLimits = DEFAULT_LIMITS,
) -> PredictionRecord:
    """Validate a decoded prediction event; raise :class:`EventError` on a breach."""
    model = _model(obj, limits)
    if "features" not in obj:
        raise EventError("missing_field", "'features' is required")
    if "prediction" not in obj:
        raise EventError("missing_field", "'prediction' is required")
    num, cat, nulls = _split_features(obj["features"], limits)
    pred_num, pred_label, proba = _prediction(obj["prediction"], limits)
    latency = obj.get("latency_ms")
    if latency is not None:
        if isinstance(latency, bool) or not isinstance(latency, _NUMBER):
            raise EventError("invalid_type", "'latency_ms' must be a number")
        latency = _finite(latency, "latency_ms")
        if latency < 0:
            raise EventError("invalid_latency", "'latency_ms' must be >= 0")
    return PredictionRecord(
        event_id=_event_id(obj, source, limits),
        model=model,
        model_version=_string(obj, "model_version", limits, required=False),
        timestamp_ms=_timestamp(obj, received_ms),
        received_ms=received_ms,
        request_id=_string(obj, "request_id", limits, required=False),
        num=num,
        cat=cat,
        nulls=nulls,
        pred_num=pred_num,
        pred_label=pred_label,
        pred_proba=proba,
        segments=_segments(obj.get("segments"), limits),
        latency_ms=latency,
        source=source,
    )


def parse_outcome(
    obj: dict[str, Any],
    *,
    received_ms: int,
    source: Coordinates | None = None,
    limits: EventLimits = DEFAULT_LIMITS,
) -> OutcomeRecord:
    """Validate a decoded outcome event; raise :class:`EventError` on a breach.

    >>> parse_outcome({"model": "m", "request_id": "r1", "outcome": True},
    ...               received_ms=0).outcome_label
    'true'
    """
    model = _model(obj, limits)
    request_id = _string(obj, "request_id", limits, required=True)
    if not request_id:
        raise EventError("missing_field", "'request_id' must not be empty")
    if obj.get("outcome") is None:
        raise EventError("missing_field", "'outcome' is required")
    num, label = _scalar(obj["outcome"], "outcome", limits)
    return OutcomeRecord(
        event_id=_event_id(obj, source, limits),
        model=model,
        request_id=request_id,
        timestamp_ms=_timestamp(obj, received_ms),
        received_ms=received_ms,
        outcome_num=num,
        outcome_label=label,
        source=source,
    )


# --- the same contract as pydantic models, for the OpenAPI schema -----------------


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number here")
    return value


Number = Annotated[StrictFloat | StrictInt, BeforeValidator(_not_bool)]
FeatureValue = Number | StrictStr | StrictBool | None
Probabilities = Annotated[dict[str, Number], Field(min_length=1)]


class PredictionEvent(BaseModel):
    """A prediction event as documented in the HTTP API."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: StrictStr = Field(pattern=MODEL_NAME_PATTERN)
    features: dict[str, FeatureValue]
    prediction: Number | StrictStr | StrictBool | Probabilities
    event_id: StrictStr | None = None
    model_version: StrictStr | None = None
    timestamp: StrictStr | StrictInt | None = None
    request_id: StrictStr | None = None
    segments: dict[str, StrictStr | Number | StrictBool] | None = None
    latency_ms: Number | None = Field(default=None, ge=0)


class OutcomeEvent(BaseModel):
    """An outcome event (ground truth) as documented in the HTTP API."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: StrictStr = Field(pattern=MODEL_NAME_PATTERN)
    request_id: StrictStr = Field(min_length=1)
    outcome: Number | StrictStr | StrictBool
    timestamp: StrictStr | StrictInt | None = None
    event_id: StrictStr | None = None
