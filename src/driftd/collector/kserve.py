"""KServe's payload logger: CloudEvents in, driftd prediction events out. No I/O here.

KServe's logger sends every inference twice, as CloudEvents that share their
``id`` and differ by ``type``: ``org.kubeflow.serving.inference.request``
(the model's input) and ``...response`` (its output). Over HTTP they come in
binary mode (``ce-*`` headers, the body is the payload) or structured mode
(``content-type: application/cloudevents+json``, attributes and ``data`` in
one JSON object); from a Knative Kafka broker as records with ``ce_*`` headers.

The bodies are Open Inference Protocol payloads, V1 (``instances`` /
``predictions``) or V2 (``inputs[]`` / ``outputs[]`` tensors). :class:`Pairer`
joins the halves on ``(source, id)``, drops a repeated ``(source, id, type)``,
and turns each pair into one prediction event per instance (request ids
``<ce-id>``, or ``<ce-id>:<i>`` for a batch). A half still alone after
``timeout_s`` is handed back by :meth:`Pairer.expire`, for the caller to
dead-letter. Tensors without names get theirs from :class:`KServeModel`.

>>> pairer = Pairer()
>>> attrs = {"source": "http://localhost:9081/", "id": "r1",
...          "inferenceservicename": "sklearn-iris"}
>>> pairer.add(CloudEvent(type=REQUEST, data={"instances": [[6.8, 2.8]]}, **attrs))
[]
>>> [e["features"] for e in pairer.add(
...     CloudEvent(type=RESPONSE, data={"predictions": [1]}, **attrs))]
[{'f0': 6.8, 'f1': 2.8}]
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from driftd.errors import DecodeError, EventError
from driftd.events import parse_timestamp_ms

__all__ = [
    "REQUEST",
    "RESPONSE",
    "CloudEvent",
    "KServeModel",
    "LoneHalf",
    "Pairer",
    "decode_inputs",
    "decode_outputs",
    "from_http",
    "from_kafka",
]

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
_TYPES = (REQUEST, RESPONSE)
_STRUCTURED = "application/cloudevents+json"
_CORE = frozenset({"id", "source", "type", "specversion", "time", "datacontenttype", "data"})


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """The attributes driftd uses, and the decoded JSON payload."""

    type: str
    source: str
    id: str
    data: Any
    time: str | None = None
    inferenceservicename: str = ""
    extensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KServeModel:
    """How one InferenceService's tensors become driftd features (``kserve.models``).

    ``model``: driftd's model name (default: the InferenceService's name);
    ``feature_names``: names of unnamed columns, in order; ``output``: the V2
    output tensor holding the prediction (default: the first);
    ``class_names``: labels of a probability vector's columns.
    """

    model: str = ""
    version: str = ""
    feature_names: tuple[str, ...] = ()
    output: str = ""
    class_names: tuple[str, ...] = ()


def _attributes(get: Callable[[str], str | None], data: Any, names: Iterable[str]) -> CloudEvent:
    missing = [k for k in ("id", "source", "type") if not get(k)]
    if missing:
        raise DecodeError("invalid_cloudevent", f"missing CloudEvent attribute(s): {missing}")
    ce_type = get("type") or ""
    if ce_type not in _TYPES:
        raise DecodeError("invalid_cloudevent", f"type {ce_type[:100]!r} is not a KServe event")
    extensions = {n: get(n) or "" for n in names if n not in _CORE}
    return CloudEvent(
        type=ce_type,
        source=get("source") or "",
        id=get("id") or "",
        data=data,
        time=get("time"),
        inferenceservicename=extensions.get("inferenceservicename", ""),
        extensions=extensions,
    )


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DecodeError("invalid_json", "the CloudEvent's data is not JSON") from None


def from_http(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Binary mode (``ce-*`` headers) or structured mode (``application/cloudevents+json``).

    Header names are matched case-insensitively (``Ce-Id`` is ``ce-id``).
    """
    headers = {k.lower(): v for k, v in headers.items()}
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == _STRUCTURED:
        envelope = _json(body)
        if not isinstance(envelope, dict):
            raise DecodeError("invalid_cloudevent", "a structured CloudEvent is a JSON object")
        data = envelope.get("data")
        if data is None and isinstance(envelope.get("data_base64"), str):
            import base64

            data = _json(base64.b64decode(envelope["data_base64"]))
        if isinstance(data, str):  # data that was JSON text, sent as a string
            data = _json(data.encode())

        def get_structured(name: str) -> str | None:
            value = envelope.get(name)
            return None if value is None else str(value)

        return _attributes(get_structured, data, envelope)
    names = [k[3:] for k in headers if k.startswith("ce-")]
    return _attributes(lambda n: headers.get(f"ce-{n}"), _json(body), names)


def from_kafka(headers: Sequence[tuple[str, bytes | None]], value: bytes) -> CloudEvent:
    """A Kafka record from a Knative Kafka broker: ``ce_*`` headers, or structured."""
    text = {k.lower(): (v or b"").decode("utf-8", "replace") for k, v in headers}
    if text.get("content-type", "").split(";")[0].strip().lower() == _STRUCTURED:
        return from_http(text, value)
    names = [k[3:] for k in text if k.startswith("ce_")]
    return _attributes(lambda n: text.get(f"ce_{n}"), _json(value), names)


# ------------------------------------------------------------------ payloads


def _reshape(data: list[Any], shape: Sequence[int]) -> list[Any]:
    """V2 ``data`` may be nested or flat (row-major): give back rows."""
    if not data or isinstance(data[0], list) or len(shape) < 2:
        return data
    width = 1
    for dim in shape[1:]:
        width *= int(dim)
    return [data[i : i + width] for i in range(0, len(data), width)]


def _flat(row: Any) -> list[Any]:
    if isinstance(row, list):
        return [v for item in row for v in _flat(item)]
    return [row]


def _named_row(row: Any, names: Sequence[str], prefix: str) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    values = _flat(row)
    return {(names[j] if j < len(names) else f"{prefix}{j}"): v for j, v in enumerate(values)}


def decode_inputs(data: Any, spec: KServeModel = KServeModel()) -> list[dict[str, Any]]:
    """Feature rows from a V1 (``instances``) or V2 (``inputs``) request body.

    A V2 tensor of shape ``[N]`` or ``[N, 1]`` is one feature named after the
    tensor; a wider one gives ``feature_names`` (else ``<tensor>_<j>``).

    >>> decode_inputs({"inputs": [{"name": "age", "shape": [2], "data": [41, 52]},
    ...                           {"name": "city", "shape": [2, 1], "data": ["a", "b"]}]})
    [{'age': 41, 'city': 'a'}, {'age': 52, 'city': 'b'}]
    """
    if not isinstance(data, dict):
        raise DecodeError("invalid_kserve", "the request body is not a JSON object")
    if isinstance(data.get("instances"), list):
        return [_named_row(row, spec.feature_names, "f") for row in data["instances"]]
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise DecodeError("invalid_kserve", "neither 'instances' (V1) nor 'inputs' (V2)")
    columns: list[list[dict[str, Any]]] = []
    for tensor in inputs:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("data"), list):
            raise DecodeError("invalid_kserve", "a V2 input has no 'data' list")
        name = str(tensor.get("name") or f"input{len(columns)}")
        shape = tensor.get("shape") or [len(tensor["data"])]
        rows = _reshape(tensor["data"], shape)
        wide = len(shape) >= 2 and any(int(d) != 1 for d in shape[1:])
        if wide:
            names = spec.feature_names if len(inputs) == 1 else ()
            columns.append([_named_row(r, names, f"{name}_") for r in rows])
        else:
            columns.append([{name: _flat(r)[0] if isinstance(r, list) else r} for r in rows])
    if len({len(c) for c in columns}) != 1:
        raise DecodeError("invalid_kserve", "V2 inputs disagree on the batch size")
    return [{k: v for col in row for k, v in col.items()} for row in zip(*columns, strict=True)]


def decode_outputs(data: Any, spec: KServeModel = KServeModel()) -> list[Any]:
    """One prediction per instance from a V1 (``predictions``) or V2 (``outputs``) response.

    A row of several numbers is a probability vector: ``{class: p}`` keyed by
    ``class_names`` (else the column index).

    >>> decode_outputs({"outputs": [{"name": "predict", "shape": [2], "data": [1, 2]}]})
    [1, 2]
    >>> decode_outputs({"predictions": [[0.2, 0.8]]}, KServeModel(class_names=("no", "yes")))
    [{'no': 0.2, 'yes': 0.8}]
    """
    if not isinstance(data, dict):
        raise DecodeError("invalid_kserve", "the response body is not a JSON object")
    if isinstance(data.get("predictions"), list):
        rows = data["predictions"]
    else:
        outputs = data.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise DecodeError("invalid_kserve", "neither 'predictions' (V1) nor 'outputs' (V2)")
        chosen = next(
            (t for t in outputs if isinstance(t, dict) and t.get("name") == spec.output),
            outputs[0],
        )
        if not isinstance(chosen, dict) or not isinstance(chosen.get("data"), list):
            raise DecodeError("invalid_kserve", "a V2 output has no 'data' list")
        rows = _reshape(chosen["data"], chosen.get("shape") or [len(chosen["data"])])
    return [_prediction(row, spec.class_names) for row in rows]


def _prediction(row: Any, class_names: Sequence[str]) -> Any:
    if not isinstance(row, list):
        return row
    values = _flat(row)
    if len(values) == 1:
        return values[0]
    return {(class_names[j] if j < len(class_names) else str(j)): v for j, v in enumerate(values)}


# ------------------------------------------------------------------ pairing


@dataclass(frozen=True, slots=True)
class LoneHalf:
    """A request or response whose other half never came within the timeout."""

    event: CloudEvent
    model: str
    arrived: float


class Pairer:
    """Joins request and response halves; thread-safe; memory bounded by ``max_pending``.

    ``add`` returns the prediction events a completed pair makes (or ``[]``);
    ``expire`` returns the halves alone for longer than ``timeout_s`` (and,
    beyond ``max_pending``, the oldest ones). A pair that does not decode
    raises :class:`~driftd.errors.EventError` (the caller dead-letters it).
    """

    def __init__(
        self,
        models: Mapping[str, KServeModel] | None = None,
        *,
        timeout_s: float = 60.0,
        max_pending: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.models = dict(models or {})
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.clock = clock
        self._pending: OrderedDict[tuple[str, str], tuple[CloudEvent, float]] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self.duplicates = 0
        self.paired = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def spec(self, event: CloudEvent) -> KServeModel:
        return self.models.get(event.inferenceservicename, KServeModel())

    def model_of(self, event: CloudEvent) -> str:
        spec = self.spec(event)
        name = spec.model or event.inferenceservicename
        if not name and isinstance(event.data, dict):
            name = str(event.data.get("model_name") or "")
        if not name:
            raise DecodeError("invalid_kserve", "no model: set ce-inferenceservicename")
        return name

    def add(self, event: CloudEvent) -> list[dict[str, Any]]:
        seen_key = (event.source, event.id, event.type)
        key = (event.source, event.id)
        with self._lock:
            if seen_key in self._seen:
                self.duplicates += 1
                return []
            self._seen[seen_key] = None
            if len(self._seen) > 4 * self.max_pending:
                self._seen.popitem(last=False)
            other = self._pending.get(key)
            if other is None or other[0].type == event.type:
                self._pending[key] = (event, self.clock())
                return []
            del self._pending[key]
            self.paired += 1
        request, response = (event, other[0]) if event.type == REQUEST else (other[0], event)
        try:
            return self.events(request, response)
        except EventError:
            raise
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
            # a payload of an unexpected shape (a shape of strings, a ragged tensor, ...)
            raise DecodeError(
                "invalid_kserve", f"undecodable payload: {type(exc).__name__}"
            ) from None

    def events(self, request: CloudEvent, response: CloudEvent) -> list[dict[str, Any]]:
        """The prediction events of one request/response pair."""
        spec = self.spec(request)
        rows = decode_inputs(request.data, spec)
        predictions = decode_outputs(response.data, spec)
        if len(rows) != len(predictions):
            raise DecodeError(
                "invalid_kserve", f"{len(rows)} instances but {len(predictions)} predictions"
            )
        base: dict[str, Any] = {"model": self.model_of(request)}
        version = spec.version or (
            response.data.get("model_version") if isinstance(response.data, dict) else None
        )
        if isinstance(version, str) and version:
            base["model_version"] = version
        if request.time:
            base["timestamp"] = request.time
            if response.time:
                latency = parse_timestamp_ms(response.time) - parse_timestamp_ms(request.time)
                if latency >= 0:
                    base["latency_ms"] = float(latency)
        single = len(rows) == 1
        return [
            {**base, "event_id": f"kserve:{request.source}:{request.id}:{i}",
             "request_id": request.id if single else f"{request.id}:{i}",
             "features": row, "prediction": prediction}
            for i, (row, prediction) in enumerate(zip(rows, predictions, strict=True))
        ]  # fmt: skip

    def expire(self, *, everything: bool = False) -> list[LoneHalf]:
        """Take out the halves past their timeout (all of them with ``everything``)."""
        now = self.clock()
        lone: list[LoneHalf] = []
        with self._lock:
            while self._pending:
                key, (event, arrived) = next(iter(self._pending.items()))
                overfull = len(self._pending) > self.max_pending
                if not (everything or overfull or now - arrived >= self.timeout_s):
                    break
                del self._pending[key]
                lone.append(LoneHalf(event, "", arrived))
        return [LoneHalf(h.event, self._safe_model(h.event), h.arrived) for h in lone]

    def _safe_model(self, event: CloudEvent) -> str:
        try:
            return self.model_of(event)
        except DecodeError:
            return ""
