"""Poison messages through a real Kafka-protocol broker (Tansu) into real embedded storage:
every message ends stored or dead-lettered, the valid ones exactly once, the collector
never exits, and HTTP with Kafka enabled answers what it published."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import orjson
import pytest

from driftd.config import load_settings
from driftd.daemon import Daemon

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
from .poison_corpus import CORPUS, VALID

pytestmark = pytest.mark.kafka


def fuzzed(rng: random.Random, n: int) -> list[bytes]:
    """Random bytes, truncated events and events with flipped bytes."""
    out: list[bytes] = []
    for i in range(n):
        event = orjson.dumps({**VALID, "event_id": f"fz-{i}"})
        choice = i % 3
        if choice == 0:
            out.append(rng.randbytes(rng.randrange(0, 80)))
        elif choice == 1:
            out.append(event[: rng.randrange(0, len(event))])
        else:
            flipped = bytearray(event)
            for _ in range(rng.randrange(1, 4)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            out.append(bytes(flipped))
    return out


def test_poison_and_fuzz_through_kafka_and_http_end_stored_or_dead_lettered(
    tansu: str, chdb_url: str, database: str, tmp_path: Path
) -> None:
    names = {k: unique(f"poison-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 2)
    group = unique("g")
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    seed_baselines(chdb_url, database, control_url, ["m"])
    rng = random.Random(11)
    items: list[tuple[bytes | None, bytes]] = []
    n_valid = 0
    poison = [payload for payload, _ in CORPUS] + fuzzed(rng, 150)
    for payload in poison:
        for _ in range(2):
            items.append((b"m", orjson.dumps({**VALID, "event_id": f"ok-{n_valid}"})))
            n_valid += 1
        items.append((b"m", payload))
    produced = produce(tansu, names["predictions"], items)

    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
        kafka=kafka_settings(tansu, names, group),
        api={"port": 0},
        collector={"batch_max_wait_ms": 5},
        limits={"max_dead_letters_per_request": 5},
    )
    daemon = Daemon(settings, "all")
    daemon.start()
    assert daemon.services is not None
    store = daemon.services.store
    url = f"http://127.0.0.1:{daemon.port}"
    try:
        wait_for(
            lambda: committed(tansu, group, names["predictions"], produced) == produced,
            120,
            "every message processed and committed",
        )
        collector = [t for t in daemon._threads if t.name == "driftd-collector"]
        assert collector and collector[0].is_alive()
        stored = store.count("predictions")
        assert stored == store.count_distinct_event_ids("predictions")
        ids = {r.event_id for r in store.read_predictions("m", 0, 2**62)}
        assert {f"ok-{i}" for i in range(n_valid)} <= ids  # every valid one, once
        letters = read_topic(tansu, names["deadletter"], len(items) - stored)
        assert stored + len(letters) == len(items)  # in = stored + dead-lettered
        reasons = [dict(r.headers)["driftd-reason"].decode() for r in letters]
        for _, reason in CORPUS:
            assert reason in reasons

        # HTTP with Kafka enabled: the same corpus, validated here, published, stored once
        body = b"[" + b",".join(p for p, _ in CORPUS if p.startswith(b"{")) + b"]"
        answer = httpx.post(f"{url}/v1/events/predictions", content=body, timeout=60)
        assert answer.status_code == 200 and answer.json()["accepted"] == 0
        assert answer.json()["rejected_total"] == len(CORPUS) - sum(
            not p.startswith(b"{") for p, _ in CORPUS
        )
        good = [{**VALID, "event_id": f"http-{i}"} for i in range(50)]
        answer = httpx.post(f"{url}/v1/events/predictions", json=good, timeout=60)
        assert answer.json()["accepted"] == 50 and "not_published" not in answer.json()
        wait_for(lambda: store.count("predictions") == stored + 50, 60, "HTTP events stored")
        # the client did not hear the answer and sends them all again: published again,
        # recognised by their event ids, stored once
        again = httpx.post(f"{url}/v1/events/predictions", json=good, timeout=60)
        assert again.json()["accepted"] == 50
        total = sum(produced.values()) + 100  # the corpus, then 50 events sent twice
        wait_for(
            lambda: sum(committed(tansu, group, names["predictions"], [0, 1]).values()) == total,
            60,
            "the resent events consumed",
        )
        assert store.count("predictions") == store.count_distinct_event_ids("predictions")
        assert store.count("predictions") == stored + 50
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
    finally:
        daemon.stop()
