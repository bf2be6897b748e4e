"""A real in-process driftd for end-to-end tests (embedded chDB, SQLite), and baselines for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.detectors import profile_dataframe


@contextmanager
def running_daemon(
    chdb_url: str, database: str, tmp_path: Path, *, port: int = 0, **overrides: Any
) -> Iterator[Daemon]:
    """``Daemon(..., "all")`` on embedded storage, HTTP group commit of 20 ms."""
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": port},
        collector={"batch_max_wait_ms": 20},
        **overrides,
    )  # fmt: skip
    daemon = Daemon(settings, "all")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def upload_baseline(
    daemon: Daemon, frame: pd.DataFrame, model: str, version: str, prediction: str
) -> None:
    """Profile ``frame`` and store it as the model's baseline through the API."""
    profile = profile_dataframe(frame, model, version, prediction=prediction)
    answer = httpx.post(
        f"http://127.0.0.1:{daemon.port}/v1/models/{model}/baselines",
        json={"profile": profile.to_dict()},
        timeout=60,
    )
    assert answer.status_code in (200, 201), answer.text
