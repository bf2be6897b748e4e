"""Storage: ClickHouse for events, baselines and metrics; SQL for control state.

* :class:`EventStore` — the data plane (embedded chDB or a ClickHouse server).
* :class:`ControlStore` — models, checkpoints (SQLite or PostgreSQL).
* :class:`InMemoryEventStore`, :class:`InMemoryControlStore` — fakes with the
  same behaviour, for other components' tests.
* :class:`EventStoreProtocol`, :class:`ControlStoreProtocol` — what callers
  should type against.
"""

from driftd.storage.apikeys import ApiKey, ApiKeyStore, MemoryApiKeys, SqlApiKeys
from driftd.storage.base import (
    AlertStoreProtocol,
    ControlStoreProtocol,
    EventKind,
    EventStoreProtocol,
)
from driftd.storage.clickhouse import EventStore
from driftd.storage.control import ControlStore
from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore
from driftd.storage.migrations import MIGRATIONS, Migration
from driftd.storage.records import (
    DriftMetric,
    LabelledPrediction,
    LabelledWindow,
    StoredBaseline,
    StoredDeadLetter,
)

__all__ = [
    "MIGRATIONS",
    "AlertStoreProtocol",
    "ApiKey",
    "ApiKeyStore",
    "ControlStore",
    "ControlStoreProtocol",
    "DriftMetric",
    "EventKind",
    "EventStore",
    "EventStoreProtocol",
    "InMemoryControlStore",
    "InMemoryEventStore",
    "LabelledPrediction",
    "LabelledWindow",
    "MemoryApiKeys",
    "Migration",
    "SqlApiKeys",
    "StoredBaseline",
    "StoredDeadLetter",
]
