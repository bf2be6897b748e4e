"""The alerting tables (control schema version 2) over SQLite, PostgreSQL and the fake."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from driftd.storage import ControlStore, ControlStoreProtocol
from driftd.storage.alert_records import (
    AlertGroupRecord,
    AlertRecord,
    DeliveryAttempt,
    Matcher,
    OutboxRecord,
    SilenceRecord,
)

T = TypeVar("T")


def _alert(fp: str = "f1", state: str = "pending") -> AlertRecord:
    return AlertRecord(
        fingerprint=fp,
        labels={"alertname": "Drift", "model": "m", "severity": "critical"},
        annotations={"summary": "s"},
        state=state,  # type: ignore[arg-type]
        active_ms=1_000,
        updated_ms=1_000,
        value=0.3,
        detail={"window_id": 3},
    )


def _item(i: str, key: str | None = None, at: int = 0) -> OutboxRecord:
    return OutboxRecord(
        id=i,
        key=key or f"k-{i}",
        kind="webhook",
        target="w",
        payload="{}",
        created_ms=at,
        next_attempt_ms=at,
    )


def test_alerts_are_written_compare_and_set(control_store: ControlStoreProtocol) -> None:
    a = _alert()
    assert control_store.put_alert(a) and a.version == 1
    twin = _alert()
    assert not control_store.put_alert(twin)  # a second writer of a new alert loses
    a.state = "firing"
    a.fired_ms = 2_000
    assert control_store.put_alert(a) and a.version == 2
    stale = _alert(state="resolved")
    stale.version = 1
    assert not control_store.put_alert(stale)
    (stored,) = control_store.list_alerts()
    assert (stored.state, stored.fired_ms, stored.detail, stored.version) == (
        "firing",
        2_000,
        {"window_id": 3},
        2,
    )
    assert control_store.list_alerts(["pending"]) == []


def test_group_write_queues_its_messages_once(control_store: ControlStoreProtocol) -> None:
    g = AlertGroupRecord(
        key="r|m", route="r", labels={"model": "m"}, created_ms=0, next_flush_ms=30_000
    )
    assert control_store.put_group(g)
    g.notified = ["f1"]
    assert control_store.put_group(g, [_item("a", "notify:r|m:1")])
    old = AlertGroupRecord(
        key="r|m", route="r", labels={}, created_ms=0, next_flush_ms=0, version=1
    )
    assert not control_store.put_group(old, [_item("b", "notify:r|m:1b")])
    assert [o.id for o in control_store.list_outbox()] == ["a"]
    assert control_store.list_groups()[0].notified == ["f1"]
    assert not control_store.put_group(old, drop=True)
    assert control_store.put_group(g, drop=True)
    assert control_store.list_groups() == []


def test_silences_are_stored_and_expired(control_store: ControlStoreProtocol) -> None:
    s = SilenceRecord(
        "s1",
        [Matcher("model", "m"), Matcher("feature", "inc.*", True)],
        0,
        10_000,
        "ops",
        "maintenance",
        0,
    )
    control_store.put_silence(s)
    (stored,) = control_store.list_silences()
    assert stored == s
    assert stored.mutes({"model": "m", "feature": "income"}, 5_000)
    assert not stored.mutes({"model": "m", "feature": "age"}, 5_000)
    assert control_store.expire_silence("s1", 5_000)
    assert not control_store.expire_silence("s1", 6_000)
    assert not control_store.expire_silence("nope", 6_000)
    assert not control_store.list_silences()[0].active(5_000)


def test_outbox_claims_leases_and_records_attempts(control_store: ControlStoreProtocol) -> None:
    assert control_store.enqueue([_item("a", at=0), _item("b", at=50), _item("a2", "k-a")]) == 2
    claimed = control_store.claim_outbox(now_ms=10, lease_ms=1_000)
    assert [c.id for c in claimed] == ["a"]
    assert control_store.claim_outbox(now_ms=100, lease_ms=1_000)[0].id == "b"
    assert control_store.claim_outbox(now_ms=500, lease_ms=1_000) == []  # both leased
    item = claimed[0]
    item.attempts, item.last_status, item.next_attempt_ms = 1, 500, 5_010
    control_store.finish_attempt(item, DeliveryAttempt("a", 1, 10, False, 500, "HTTP 500"))
    assert control_store.claim_outbox(now_ms=1_050, lease_ms=1_000) == []  # a not due yet
    again = {c.id: c for c in control_store.claim_outbox(now_ms=5_010, lease_ms=1_000)}
    assert sorted(again) == ["a", "b"]  # b's lease ran out
    done = again["a"]
    done.attempts, done.state, done.delivered_ms = 2, "delivered", 5_011
    control_store.finish_attempt(done, DeliveryAttempt("a", 2, 5_011, True, 200, ""))
    assert [a.ok for a in control_store.list_attempts("a")] == [False, True]
    (stored,) = control_store.list_outbox(outbox_id="a")
    assert (stored.state, stored.attempts, stored.claimed_until_ms) == ("delivered", 2, 0)
    assert control_store.redeliver("a", 9_000)
    assert not control_store.redeliver("unknown", 9_000)
    assert "a" in [c.id for c in control_store.claim_outbox(now_ms=9_000, lease_ms=1)]


def test_webhook_cooldown_and_idempotency(control_store: ControlStoreProtocol) -> None:
    day = 86_400_000
    assert control_store.trigger_webhook("w/m", day, _item("1", "t1", at=1_000))
    assert not control_store.trigger_webhook("w/m", day, _item("2", "t2", at=2_000))
    assert not control_store.trigger_webhook("w/m", day, _item("3", "t1", at=2 * day))
    assert control_store.trigger_webhook("w/other", day, _item("4", "t4", at=2_000))
    assert control_store.trigger_webhook("w/m", day, _item("5", "t5", at=1_000 + day))
    assert sorted(o.id for o in control_store.list_outbox()) == ["1", "4", "5"]


def _all_at_once(stores: list[ControlStore], work: Callable[[ControlStore], list[T]]) -> list[T]:
    """Run ``work`` on every store in its own thread, released together; close the stores."""
    found: list[T] = []
    barrier = threading.Barrier(len(stores))

    def run(store: ControlStore) -> None:
        barrier.wait()
        found.extend(work(store))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    return found


def test_concurrent_writers_raise_one_alert_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    stores = [ControlStore(url) for _ in range(4)]
    stores[0].migrate()
    wins = _all_at_once(stores, lambda store: [store.put_alert(_alert())])
    assert sorted(wins) == [False, False, False, True]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_claims_lease_each_message_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/c.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    stores = [ControlStore(url) for _ in range(3)]
    stores[0].migrate()
    stores[0].enqueue([_item(str(i)) for i in range(30)])
    claimed = _all_at_once(
        stores, lambda store: [c.id for c in store.claim_outbox(now_ms=1, lease_ms=60_000)]
    )
    assert sorted(claimed, key=int) == [str(i) for i in range(30)]
