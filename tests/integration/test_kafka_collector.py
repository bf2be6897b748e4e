"""The collector against a real Kafka-protocol broker (Tansu) and real embedded storage."""

from __future__ import annotations

import hashlib
import hmac
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.services import build_services
from driftd.storage import EventStore

from .kafka_helpers import (
    CLIENTS,
    CollectorProcess,
    committed,
    create_topics,
    dumps,
    event,
    kafka_settings,
    produce,
    read_topic,
    seed_baselines,
    seed_in_subprocess,
    unique,
    wait_for,
)

pytestmark = pytest.mark.kafka
HMAC_KEY = "integration-test-hmac-key-0123456789"


def topics(partitions: int, bootstrap: str) -> dict[str, str]:
    names = {k: unique(f"t-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(bootstrap, names.values(), partitions)
    return names


@pytest.mark.parametrize("client", CLIENTS)
def test_end_to_end_valid_stored_malformed_dead_lettered_offsets_committed(
    tansu: str, chdb_url: str, database: str, tmp_path: Path, client: str
) -> None:
    names = topics(3, tansu)
    group = unique("g")
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    models = ["m-a", "m-b", "m-c"]
    seed_baselines(chdb_url, database, control_url, models)
    rng = np.random.default_rng(3)
    valid = [event(models[i % 3], i, rng) for i in range(600)]
    valid[0]["features"]["password"] = "hunter2"
    valid[0]["features"]["user_id"] = "u-42"
    malformed: list[tuple[bytes, str]] = [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (dumps({"model": "m-a", "prediction": 1}), "missing_field"),
        (dumps(event("nobody", 1, rng)), "unknown_model"),
        (b'{"model": "m-b", "features": {"x": 1}, "prediction": NaN}', "non_finite"),
        (
            dumps(
                {
                    "model": "m-c",
                    "features": "oops",
                    "prediction": 1,
                    "password": "hunter2",
                    "api_key": "k-secret",
                }
            ),
            "invalid_type",
        ),
    ]
    items = [(e["model"].encode(), dumps(e)) for e in valid]
    items += [(b"m-a", payload) for payload, _ in malformed]
    random.Random(5).shuffle(items)
    produced = produce(tansu, names["predictions"], items)
    outcomes = [
        (b"m-a", dumps({"model": "m-a", "request_id": f"r-{i}", "outcome": i % 2}))
        for i in range(0, 60, 3)
    ]
    produce(tansu, names["outcomes"], outcomes)

    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
        kafka=kafka_settings(tansu, names, group, client=client),
        api={"port": 0},
        window={"size": 100, "min_size": 100},
        scrub={"fields": {"user_id": "hash"}, "hmac_key": HMAC_KEY},
    )
    daemon = Daemon(settings, "collector")
    daemon.start()
    assert daemon.services is not None
    store = daemon.services.store
    try:
        wait_for(lambda: store.count("predictions") >= len(valid), 90, "valid events stored")
        wait_for(
            lambda: committed(tansu, group, names["predictions"], produced) == produced,
            30,
            "offsets committed",
        )
        wait_for(lambda: store.count("outcomes") == len(outcomes), 30, "outcomes stored")
        # the collector role serves probes and metrics, not ingest or queries
        probe = f"http://127.0.0.1:{daemon.port}"
        assert httpx.get(f"{probe}/readyz").json()["checks"]["kafka"] == "ok"
        assert httpx.post(f"{probe}/v1/events/predictions", json={}).status_code == 404
        assert "driftd_events_stored_total" in httpx.get(f"{probe}/metrics").text
    finally:
        daemon.stop()

    check = EventStore.connect(chdb_url, database)
    try:
        assert check.count("predictions") == len(valid)
        assert check.count_distinct_event_ids("predictions") == len(valid)
        first = next(r for r in check.read_predictions("m-a", 0, 2**62) if r.event_id == "m-a-0")
        assert "password" not in first.cat and "password" not in first.num
        assert (
            first.cat["user_id"] == hmac.new(HMAC_KEY.encode(), b"u-42", hashlib.sha256).hexdigest()
        )
        windows = check.query_drift("m-a", 0, 2**62, feature="income", metric="psi")
        assert sorted(w.window_id for w in windows) == [0, 1]  # 200 events of m-a, windows of 100
    finally:
        check.close()

    letters = read_topic(tansu, names["deadletter"], len(malformed))
    assert len(letters) == len(malformed)
    reasons = sorted(dict(r.headers)["driftd-reason"].decode() for r in letters)
    assert reasons == sorted(reason for _, reason in malformed)
    for record in letters:
        headers = dict(record.headers)
        assert headers["driftd-source-topic"].decode() == names["predictions"]
        assert int(headers["driftd-source-offset"]) >= 0
        assert b"hunter2" not in record.value and b"k-secret" not in record.value
        assert b"hunter2" not in b"".join(v for _, v in record.headers)
    not_json = next(r for r in letters if dict(r.headers)["driftd-reason"] == b"invalid_json")
    assert not_json.value == b""  # undecodable bytes are never copied


def collector_config(
    tmp: Path, tansu: str, names: dict[str, str], group: str, window: int, client: str
) -> dict[str, Any]:
    return {
        "storage": {
            "clickhouse_url": f"chdb://{tmp / 'ch'}",
            "database": "driftd",
            "control_url": f"sqlite:///{tmp / 'control.db'}",
        },
        "kafka": kafka_settings(tansu, names, group, client=client),
        "api": {"port": 0},
        "window": {"size": window},
        "logging": {"level": "INFO"},
    }


def _stream(tansu: str, names: dict[str, str], n_valid: int, n_bad: int) -> dict[int, int]:
    rng = np.random.default_rng(11)
    items = [(b"crash", dumps(event("crash", i, rng))) for i in range(n_valid)]
    for j in range(n_bad):
        items.insert((j * 7919) % len(items), (b"crash", b"{broken " + str(j).encode()))
    return produce(tansu, names["predictions"], items)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("client", "n_valid"),
    # the confluent variant on a shorter stream keeps the suite's time in bounds
    [("kafka-python", 100_000), ("confluent", 40_000)],
)
def test_sigkill_repeatedly_loses_and_duplicates_nothing(
    tansu: str, tmp_path: Path, client: str, n_valid: int
) -> None:
    n_bad, window = n_valid // 200, 1_000
    names = topics(1, tansu)
    group = unique("g-crash")
    config = collector_config(tmp_path, tansu, names, group, window, client)
    seed_in_subprocess(config, ["crash"])
    produced = _stream(tansu, names, n_valid, n_bad)
    total = sum(produced.values())
    assert total == n_valid + n_bad

    collector = CollectorProcess(tmp_path, config)
    rnd = random.Random(7)
    kills = 0
    for threshold in (n_valid * 15 // 100, n_valid * 40 // 100, n_valid * 70 // 100):
        collector.start()
        wait_for(
            lambda t=threshold: (
                sum(committed(tansu, group, names["predictions"], produced).values()) >= t
            ),
            180,
            f"progress past {threshold}",
        )
        time.sleep(rnd.uniform(0.0, 0.4))  # land somewhere inside a batch
        collector.kill()
        kills += 1
    collector.start()
    wait_for(
        lambda: committed(tansu, group, names["predictions"], produced) == produced,
        300,
        "everything committed",
    )
    assert collector.stop() == 0
    counts = collector.counts("crash")
    assert kills == 3
    assert counts["predictions"] == n_valid, counts
    assert counts["distinct"] == n_valid, counts
    # exactly-once counting across the kills: every window holds exactly `window` events
    assert counts["windows"] == list(range(n_valid // window)), counts["windows"][:5]
    assert counts["window_sizes"] == [window]


@pytest.mark.parametrize("client", CLIENTS)
def test_sigterm_mid_stream_commits_what_was_stored(
    tansu: str, tmp_path: Path, client: str
) -> None:
    n_valid = 30_000
    names = topics(1, tansu)
    group = unique("g-term")
    config = collector_config(tmp_path, tansu, names, group, 1_000, client)
    config["kafka"]["max_poll_records"] = 2_000  # many small batches: SIGTERM lands mid-stream
    seed_in_subprocess(config, ["crash"])
    produced = _stream(tansu, names, n_valid, 0)
    collector = CollectorProcess(tmp_path, config)
    collector.start()
    wait_for(
        lambda: sum(committed(tansu, group, names["predictions"], produced).values()) > 0,
        120,
        "first commit",
    )
    collector.signal(signal.SIGTERM)
    assert collector.wait(60) == 0
    done = sum(committed(tansu, group, names["predictions"], produced).values())
    stored = collector.counts()["predictions"]
    assert 0 < done < n_valid, "SIGTERM should land mid-stream"
    assert stored == done  # nothing stored is left uncommitted, nothing committed is unstored
    collector.start()
    wait_for(
        lambda: committed(tansu, group, names["predictions"], produced) == produced,
        120,
        "the rest committed",
    )
    assert collector.stop() == 0
    counts = collector.counts("crash")
    assert counts["predictions"] == counts["distinct"] == n_valid


@pytest.mark.parametrize("client", CLIENTS)
def test_two_collectors_split_partitions_and_hand_over(
    tansu: str, chdb_url: str, database: str, tmp_path: Path, client: str
) -> None:
    names = topics(4, tansu)
    group = unique("g-scale")
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    models = [f"model-{i}" for i in range(8)]
    seed_baselines(chdb_url, database, control_url, models)
    rng = np.random.default_rng(9)
    first = [event(models[i % 8], i, rng) for i in range(4_000)]
    produced = produce(
        tansu, names["predictions"], [(e["model"].encode(), dumps(e)) for e in first]
    )
    assert len(produced) >= 2, "the models should spread over several partitions"

    def make() -> Daemon:
        settings = load_settings(
            None,
            storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
            kafka=kafka_settings(tansu, names, group, max_poll_records=200, client=client),
            api={"port": 0},
            window={"size": 100, "min_size": 100},
        )
        return Daemon(settings, "collector", services=build_services(settings))

    a, b = make(), make()
    a.start()
    b.start()
    store = EventStore.connect(chdb_url, database)
    try:
        wait_for(lambda: store.count("predictions") >= len(first), 120, "first half stored")
        assert a._collector is not None and b._collector is not None
        assert a._collector.events > 0 and b._collector.events > 0, "both should take partitions"
        b.stop()  # graceful: drains, commits, leaves the group
        second = [event(models[i % 8], i, rng) for i in range(4_000, 8_000)]
        more = produce(
            tansu, names["predictions"], [(e["model"].encode(), dumps(e)) for e in second]
        )
        total = {p: max(produced.get(p, 0), more.get(p, 0)) for p in set(produced) | set(more)}
        wait_for(lambda: store.count("predictions") >= 8_000, 120, "a takes over")
        wait_for(
            lambda: committed(tansu, group, names["predictions"], total) == total,
            60,
            "all committed",
        )
        assert store.count("predictions") == 8_000
        assert store.count_distinct_event_ids("predictions") == 8_000
        # window state followed the partitions: no window of any model was counted twice
        for model in models:
            rows = store.query_drift(model, 0, 2**62, feature="income", metric="psi")
            assert sorted(r.window_id for r in rows) == list(range(10)), model
            assert {r.n for r in rows} == {100}
    finally:
        store.close()
        a.stop()


def test_http_ingest_goes_through_kafka_when_enabled(
    tansu: str, chdb_url: str, database: str, tmp_path: Path
) -> None:
    """Central shape: the API validates and publishes; the collectors store and judge."""
    names = topics(2, tansu)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    seed_baselines(chdb_url, database, control_url, ["web"])
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database, "control_url": control_url},
        kafka=kafka_settings(tansu, names, unique("g-http")),
        api={"port": 0},
        window={"size": 50, "min_size": 50},
        collector={"batch_max_wait_ms": 20},
    )
    daemon = Daemon(settings, "all")
    daemon.start()
    assert daemon.services is not None
    store = daemon.services.store
    rng = np.random.default_rng(2)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
            body = [event("web", i, rng) for i in range(120)] + [{"model": "web"}]
            body[5]["features"]["password"] = "pw-123"
            answer = client.post("/v1/events/predictions", json=body).json()
        assert answer["accepted"] == 120
        assert [r["reason"] for r in answer["rejected"]] == ["missing_field"]
        wait_for(lambda: store.count("predictions") == 120, 60, "events through Kafka stored")
        # windows are judged after the events are stored: poll, on a loaded machine too
        wait_for(
            lambda: len(store.query_drift("web", 0, 2**62, feature="income", metric="psi")) == 2,
            60,
            "both windows judged",
        )
    finally:
        daemon.stop()
    published = read_topic(tansu, names["predictions"], 120)
    assert len(published) == 120
    assert all(r.key == b"web" for r in published)
    assert not any(b"pw-123" in r.value for r in published)
    letters = read_topic(tansu, names["deadletter"], 1)
    assert [dict(r.headers)["driftd-reason"] for r in letters] == [b"missing_field"]
