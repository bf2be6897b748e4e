"""The in-memory fakes: what only they have, and that they keep the real shapes.

Their behaviour is held to the real stores by the parametrized tests in
``test_clickhouse.py`` and ``test_control_store.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

import driftd.storage
from driftd.errors import StorageError
from driftd.events import PredictionRecord
from driftd.storage import (
    ControlStore,
    ControlStoreProtocol,
    EventStore,
    EventStoreProtocol,
    InMemoryControlStore,
    InMemoryEventStore,
)
from driftd.storage.records import DriftMetric

PredictionFactory = Callable[..., PredictionRecord]


def test_all_is_honest() -> None:
    public = {
        name
        for name, value in vars(driftd.storage).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert sorted(driftd.storage.__all__) == sorted(public)
    assert len(set(driftd.storage.__all__)) == len(driftd.storage.__all__)


def _members(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and inspect.isfunction(value)
    ]


@pytest.mark.parametrize(
    ("protocol", "implementations"),
    [
        (EventStoreProtocol, (EventStore, InMemoryEventStore)),
        (ControlStoreProtocol, (ControlStore, InMemoryControlStore)),
    ],
)
def test_implementations_match_the_protocol_signatures(
    protocol: type, implementations: tuple[type, ...]
) -> None:
    members = _members(protocol)
    assert members
    for name in members:
        expected = inspect.signature(getattr(protocol, name))
        for impl in implementations:
            assert inspect.signature(getattr(impl, name)) == expected, f"{impl.__name__}.{name}"


def test_the_dedup_window_forgets_old_tokens(make_prediction: PredictionFactory) -> None:
    store = InMemoryEventStore(dedup_window=2)
    batch = [make_prediction(0)]
    store.insert_predictions(batch, dedup_token="a")
    store.insert_predictions(batch, dedup_token="b")
    store.insert_predictions(batch, dedup_token="a")  # still remembered
    assert store.count("predictions") == 2
    store.insert_predictions(batch, dedup_token="c")  # "a" falls out of the window
    store.insert_predictions(batch, dedup_token="a")
    assert store.count("predictions") == 4


def test_tokens_are_per_table(
    make_prediction: PredictionFactory, make_metric: Callable[..., DriftMetric]
) -> None:
    store = InMemoryEventStore()
    store.insert_predictions([make_prediction(0)], dedup_token="t")
    store.insert_drift_metrics([make_metric(1)], dedup_token="t")
    assert store.count("predictions") == 1
    assert len(store.query_drift("credit-risk", 0, 2**62)) == 1


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="dedup_window"):
        InMemoryEventStore(dedup_window=0)


def test_stores_close_idempotently() -> None:
    events, control = InMemoryEventStore(), InMemoryControlStore()
    for store in (events, control):
        store.close()
        store.close()
        with pytest.raises(StorageError, match="closed"):
            store.migrate()
