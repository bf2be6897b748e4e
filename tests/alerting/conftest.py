"""Alerting fixtures: a settable clock, stores, results, and settings with test routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from driftd.config.alerting import AlertingSettings
from driftd.metrics import Metrics
from driftd.monitoring.results import Severity, WindowResult
from driftd.storage import ControlStore, ControlStoreProtocol, InMemoryControlStore
from tests.storage.conftest import postgres_url  # noqa: F401  (a fixture, used by name)

T0 = 1_800_000_000_000  # 2027-01-15, epoch ms


class FakeClock:
    """Epoch milliseconds that move only when a test says so."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlStoreProtocol]:
    """The control store: the in-memory fake, SQLite and PostgreSQL."""
    s: ControlStoreProtocol
    if request.param == "memory":
        s = InMemoryControlStore()
    elif request.param == "sqlite":
        s = ControlStore(f"sqlite:///{tmp_path}/control.db")
    else:
        s = ControlStore(request.getfixturevalue("postgres_url"))
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def result(
    feature: str = "income",
    value: float = 0.3,
    severity: Severity = "critical",
    *,
    model: str = "credit-risk",
    window: int = 1,
    metric: str = "psi",
) -> WindowResult:
    return WindowResult(
        model=model,
        baseline_version="v1",
        window_id=window,
        window_start_ms=T0 + (window - 1) * 60_000,
        window_end_ms=T0 + window * 60_000,
        n=1000,
        feature=feature,
        metric=metric,
        value=value,
        p_value=None,
        effect_size=value,
        severity=severity,
    )


def alerting_settings(**overrides: Any) -> AlertingSettings:
    """Test routes (unreachable loopback targets unless overridden), loopback allowed."""
    base: dict[str, Any] = {
        "allow_private_targets": True,
        "external_url": "http://driftd.test:8470",
        "routes": [
            {"name": "pager", "severities": ["critical"], "urls": ["json://127.0.0.1:9/pager"]},
            {
                "name": "chat",
                "severities": ["warning", "critical"],
                "urls": ["json://127.0.0.1:9/chat"],
            },
        ],
    }
    base.update(overrides)
    return AlertingSettings(**base)


MakeResult = Callable[..., WindowResult]
