"""Poison messages: the issue's numbered cases that reach the pipeline as one message each,
plus what the fuzzer and review found; each with the reason it must be dead-lettered with."""

from __future__ import annotations

import orjson

__all__ = ["CORPUS", "VALID"]

VALID = {"model": "m", "features": {"x": 0.5, "country": "DE"}, "prediction": 0.5}


CORPUS: list[tuple[bytes, str]] = [
    # 1. a lone surrogate (valid JSON, not encodable as UTF-8), wherever it would be stored
    (b'{"model":"m","features":{"country":"\\ud800"},"prediction":0.5}', "invalid_string"),
    (b'{"model":"m","features":{"\\udc00":1},"prediction":0.5}', "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":"\\ud800"}', "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":{"\\ud800":0.9}}', "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"segments":{"r":"\\ud800"}}',
     "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"request_id":"\\ud800"}', "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"event_id":"\\udfff"}', "invalid_string"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"model_version":"\\ud800"}',
     "invalid_string"),
    # 2. integers beyond float64 / 64 bits: non_finite, and their dead letters still write
    (b'{"model":"m","features":{"x":' + b"9" * 400 + b'},"prediction":0.5}', "non_finite"),
    (b'{"model":"m","features":{"x":1},"prediction":' + b"9" * 5000 + b"}", "non_finite"),
    (b'{"model":"ghost","features":{"x":1},"prediction":1,"n":' + b"9" * 400 + b"}",
     "unknown_model"),
    (b'{"model":"ghost","features":{"x":"\\ud800"},"prediction":1,"n":' + b"1" * 30 + b"}",
     "invalid_string"),
    # 4. one event beyond limits.max_payload_bytes
    (orjson.dumps({**VALID, "pad": "a" * 70_000}), "too_large"),
    # fuzzer and review finds
    (b'{"model":"m","features":{"x":1},"prediction":1,"timestamp":"0001-01-01T00:00:00Z"}',
     "invalid_timestamp"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"timestamp":NaN}', "invalid_timestamp"),
    (b'{"model":"m","features":{"x":1},"prediction":1,"segments":{"r":NaN}}', "non_finite"),
    (b"[" * 30_000 + b"]" * 30_000, "invalid_json"),
    (b"[" * 5_000 + b"]" * 5_000, "invalid_json"),
    (b'{"model":"m","features":{"x":1e400},"prediction":1}', "non_finite"),
    (b"\xff\xfe{}", "invalid_json"),
    # nested deeper than scrubbing follows (64 levels): a dead letter of its own
    (b'{"model":"m","features":{"x":1},"prediction":1,"deep":' + b'{"a":' * 900 + b"1"
     + b"}" * 900 + b"}", "too_deep"),
    (b'{"model":"m","features":{"x":1},"prediction":{'
     + b",".join(b'"c%d":0.1' % i for i in range(600)) + b"}}", "invalid_prediction"),
]  # fmt: skip
