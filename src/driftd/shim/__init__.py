"""The serving shim: what Python model servers import to send driftd their predictions.

Light on purpose: the standard library, ``httpx`` and ``orjson`` only
(``kafka-python`` when the Kafka transport is chosen), and nothing from driftd
outside this package, so it installs on its own as ``driftd-shim``
(``shim/pyproject.toml``) and never slows a model server's start-up.

>>> from driftd.shim import HttpTransport, PredictionLogger
>>> log = PredictionLogger("credit-risk", "2026-11-01",
...                        transport=HttpTransport("http://127.0.0.1:9"),
...                        register_atexit=False)
>>> rid = log.log_prediction({"income": 52000.0, "country": "DE"}, 0.93)
>>> log.close(timeout_s=0.1)  # nothing listens here: the event is dropped, nothing raises
>>> log.stats.dropped
1
"""

from driftd.shim.asgi import PredictionMiddleware, default_features, default_predictions
from driftd.shim.logger import PredictionLogger, ShimStats, current_request_id
from driftd.shim.scrub import FieldScrubber
from driftd.shim.transports import (
    DeliveryError,
    HttpTransport,
    KafkaTransport,
    MemoryTransport,
    Record,
    SendResult,
    Transport,
)

__all__ = [
    "DeliveryError",
    "FieldScrubber",
    "HttpTransport",
    "KafkaTransport",
    "MemoryTransport",
    "PredictionLogger",
    "PredictionMiddleware",
    "Record",
    "SendResult",
    "ShimStats",
    "Transport",
    "current_request_id",
    "default_features",
    "default_predictions",
]
