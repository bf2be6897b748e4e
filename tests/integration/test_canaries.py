"""Canary PII through the real pipeline, then every sink searched: nothing is found.

Canaries (e-mail, phone, card, SSN, IBAN, IPv4, JWT, a secret) are placed at
nesting depths 0-5, in keys, values and free text, in valid events, in events
that are dead-lettered, in bytes that are not JSON, and in fields whose errors
are reported. They travel over Kafka (Tansu) into the collector and embedded
chDB, and over HTTP (with Kafka, and as a sidecar without it). Then searched:
every ClickHouse table of the test's databases, the raw bytes of the chDB
directory and of the control store, the dead-letter topic (values and
headers), the captured log records, and every API answer.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from stdnum import luhn

from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.storage import EventStore

from .kafka_helpers import (
    committed,
    create_topics,
    kafka_settings,
    produce,
    read_topic,
    seed_baselines,
    unique,
    wait_for,
)

pytestmark = pytest.mark.kafka

TAG = uuid.uuid4().hex[:8]
_CARD = "453914880343" + "646"
CANARIES = {
    "email": f"canary.{TAG}@example.com",
    "phone": "+44 20 7946 0958",
    "card": " ".join([(_CARD + luhn.calc_check_digit(_CARD))[i : i + 4] for i in (0, 4, 8, 12)]),
    "ssn": "078-05-1120",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ipv4": "203.0.113.77",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlX2NhbmFyeQ",
    "secret": f"ghp_{TAG}CanaryTokenAbCdEfGh0123456789XyZ",
}


def needles() -> list[bytes]:
    """Each canary as written, and compact (digits and letters only) where that differs."""
    out: set[bytes] = set()
    for value in CANARIES.values():
        out.add(value.encode())
        compact = "".join(c for c in value if c.isalnum())
        if len(compact) >= 9:
            out.add(compact.encode())
    return sorted(out)


def nest(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = {f"n{i}": leaf} if i % 2 == 0 else [leaf]
    return leaf


def events(model: str, prefix: str) -> list[bytes]:
    """Valid events carrying canaries, events dead-lettered with them, and non-JSON bytes."""
    out: list[bytes] = []
    for i, (kind, canary) in enumerate(CANARIES.items()):
        for depth in range(6):
            base = {"model": model, "event_id": f"{prefix}-{kind}-{depth}", "prediction": 0.5}
            valid = {
                **base,
                "request_id": f"r {canary}",
                "model_version": "v1",
                "features": {"income": 50_000.0 + i, "country": "DE", "note": f"hi {canary}!",
                             f"k {canary}": 1.0, "who": canary},
                "segments": {"region": canary},
                "metadata": nest(depth, {canary: f"free text {canary} end"}),
            }  # fmt: skip
            out.append(orjson.dumps(valid))
            broken = {**valid, "event_id": f"{prefix}-bad-{kind}-{depth}", "latency_ms": "slow"}
            out.append(orjson.dumps(broken))  # dead-lettered with its metadata
        out.append(orjson.dumps({**base, "event_id": f"{prefix}-ts-{kind}", "features": {"x": 1},
                                 "timestamp": canary}))  # fmt: skip
        out.append(orjson.dumps({**base, "model": canary, "features": {"x": 1}}))
        out.append(f'{{"model": "{model}", "features": {{"note": "{canary}"'.encode())
        out.append(f"not json at all: {canary}".encode())
    return out


def outcomes(model: str, prefix: str) -> list[bytes]:
    return [
        orjson.dumps({"model": model, "event_id": f"{prefix}-o-{kind}",
                      "request_id": f"r {canary}", "outcome": f"label {canary}"})
        for kind, canary in CANARIES.items()
    ]  # fmt: skip


def assert_clean(where: str, blob: bytes) -> None:
    found = [n.decode() for n in needles() if n in blob]
    assert not found, f"canaries found in {where}: {found}"


def dump_tables(chdb_url: str, database: str) -> bytes:
    store = EventStore.connect(chdb_url, database)
    try:
        tables = [r[0] for r in store.client.query(f"SHOW TABLES FROM {database}").result_rows]
        assert "predictions" in tables and "dead_letters" in tables
        blob = b""
        for table in tables:
            rows = store.client.query(f"SELECT * FROM {database}.`{table}`").result_rows
            blob += repr(rows).encode() + repr([str(v) for r in rows for v in r]).encode()
        return blob
    finally:
        store.close()


def directory_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def start_daemon(chdb_url: str, database: str, control_url: str, kafka: dict[str, Any]) -> Daemon:
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
        kafka=kafka,
        api={"port": 0},
        collector={"batch_max_wait_ms": 5},
    )
    daemon = Daemon(settings, "all")
    daemon.start()
    return daemon


def test_no_canary_reaches_any_sink(
    tansu: str, chdb_url: str, database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # as `driftd` configures it: kafka-python logs raw fetched bytes at DEBUG, so the
    # CLI keeps it at WARNING whatever the level (test_cli_logging_pins_kafka)
    caplog.set_level(logging.WARNING, logger="kafka")
    names = {k: unique(f"canary-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 1)
    group = unique("g")
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    seed_baselines(chdb_url, database, control_url, ["m"])
    kafka_events = events("m", "k")
    produced = produce(tansu, names["predictions"], [(b"m", e) for e in kafka_events])
    produced_o = produce(tansu, names["outcomes"], [(b"m", e) for e in outcomes("m", "k")])
    caplog.clear()  # the test's own producer logs what it sends (kafka-python, DEBUG)
    answers: list[bytes] = []
    daemon = start_daemon(chdb_url, database, control_url, kafka_settings(tansu, names, group))
    url = f"http://127.0.0.1:{daemon.port}"
    try:
        # HTTP with Kafka: validated and scrubbed here, published, consumed, stored
        http_events = events("m", "h")
        body = (
            b"["
            + b",".join(e for e in http_events if e.startswith(b"{") and e.endswith(b"}"))
            + b"]"
        )
        answer = httpx.post(f"{url}/v1/events/predictions", content=body, timeout=60)
        assert answer.status_code == 200 and answer.json()["accepted"] > 0
        answers.append(answer.content)
        for raw in http_events[:: len(http_events) // 10]:
            answers.append(
                httpx.post(f"{url}/v1/events/predictions", content=raw, timeout=60).content
            )
        answers.append(
            httpx.post(f"{url}/v1/events/predictions", content=b"\n".join(http_events),
                       headers={"content-type": "application/x-ndjson"}, timeout=60).content
        )  # fmt: skip
        for canary in CANARIES.values():  # a canary in the path, a query parameter, a header
            answers.append(httpx.get(f"{url}/v1/models/{canary}/drift", timeout=30).content)
            answers.append(
                httpx.get(f"{url}/v1/models/m/drift", params={"from": canary}, timeout=30).content
            )

        def consumed(topic: str, counts: dict[int, int]) -> bool:
            done = committed(tansu, group, topic, counts)
            return all(done[p] >= n for p, n in counts.items())

        wait_for(
            lambda: (
                consumed(names["predictions"], produced) and consumed(names["outcomes"], produced_o)
            ),
            120,
            "every message consumed",
        )
        assert daemon.services is not None
        store = daemon.services.store
        wait_for(lambda: store.count("predictions") >= 2 * 6 * len(CANARIES), 60, "events stored")
        assert store.count("outcomes") == len(CANARIES)
        for path in ("/v1/models", "/v1/models/m/drift", "/v1/models/m/baselines", "/metrics"):
            answers.append(httpx.get(f"{url}{path}", timeout=30).content)
    finally:
        daemon.stop()

    all_letters = read_topic(tansu, names["deadletter"], 1, timeout_s=30)  # and all the rest
    assert all_letters, "dead letters were written"
    for letter in all_letters:
        assert_clean("a dead letter", (letter.value or b"") + repr(letter.headers).encode())
    assert_clean("ClickHouse tables", dump_tables(chdb_url, database))
    assert_clean("API answers", b"".join(answers))
    assert_clean("control store", directory_bytes(tmp_path))
    for record in caplog.records:
        if record.name.startswith(("httpx", "httpcore")):
            continue  # the test's own HTTP client, logging the URLs it asks for
        assert_clean(
            f"a log record of {record.name}",
            (record.getMessage() + (record.exc_text or "")).encode(),
        )
    assert_clean("the chDB directory", directory_bytes(Path(chdb_url.removeprefix("chdb://"))))
    # the scrubbed values are there: masked, not lost
    assert b"[EMAIL]" in dump_tables(chdb_url, database)


def test_sidecar_dead_letters_and_http_answers_hold_no_canary(
    chdb_url: str, database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    seed_baselines(chdb_url, database, control_url, ["m"])
    answers: list[bytes] = []
    daemon = start_daemon(chdb_url, database, control_url, {"enabled": False})
    url = f"http://127.0.0.1:{daemon.port}"
    try:
        for raw in events("m", "s"):
            answers.append(
                httpx.post(f"{url}/v1/events/predictions", content=raw, timeout=60).content
            )
        for raw in outcomes("m", "s"):
            answers.append(httpx.post(f"{url}/v1/events/outcomes", content=raw, timeout=60).content)
        letters = httpx.get(f"{url}/v1/deadletters", params={"limit": 1000}, timeout=30)
        assert letters.status_code == 200 and len(letters.json()) > 0
        answers.append(letters.content)
        answers.append(httpx.get(f"{url}/v1/models", timeout=30).content)
    finally:
        daemon.stop()
    assert_clean("API answers", b"".join(answers))
    assert_clean("ClickHouse tables", dump_tables(chdb_url, database))
    assert_clean("control store", directory_bytes(tmp_path))
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert_clean("log records", "\n".join(r.getMessage() for r in server_side).encode())
