"""Alert lifecycle with Alertmanager semantics, on the in-memory fake and SQLite.

Time is a fake clock: group_wait, group_interval, repeat_interval and ``for``
are crossed by advancing it, never by sleeping. What is checked is what the
outbox holds (delivery itself is tested with real receivers elsewhere).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftd.alerting.service import Alerting
from driftd.metrics import Metrics
from driftd.storage import ControlStore, ControlStoreProtocol
from driftd.storage.alert_records import Matcher, SilenceRecord
from tests.alerting.conftest import FakeClock, alerting_settings, result

SEC = 1_000
MIN = 60 * SEC


def _messages(store: ControlStoreProtocol, route: str | None = None) -> list[dict[str, str]]:
    items = sorted(store.list_outbox(kind="notification"), key=lambda o: (o.created_ms, o.key))
    return [
        {**json.loads(o.payload), "route": o.target}
        for o in items
        if route is None or o.target == route
    ]


def _states(store: ControlStoreProtocol) -> dict[tuple[str, str], str]:
    return {(a.labels["feature"], a.labels["severity"]): a.state for a in store.list_alerts()}


def test_pending_until_for_then_firing(store: ControlStoreProtocol, clock: FakeClock) -> None:
    rules = [
        {
            "name": "Psi",
            "metric": "psi",
            "thresholds": {"warning": 0.1, "critical": 0.25},
            "for": "10m",
        }
    ]
    a = Alerting(alerting_settings(rules=rules), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.3, "ok")])  # thresholds decide, not the verdict
    a.tick()
    assert _states(store) == {("income", "critical"): "pending"}
    clock.advance(9 * MIN)
    a.sink.publish([result("income", 0.31, window=2)])
    a.tick()
    assert _states(store) == {("income", "critical"): "pending"}
    clock.advance(MIN)
    a.tick()
    assert _states(store) == {("income", "critical"): "firing"}
    assert (
        a.metrics.registry.get_sample_value(
            "driftd_alerts_fired_total", {"alertname": "Psi", "severity": "critical"}
        )
        == 1.0
    )


def test_pending_that_clears_never_notifies(store: ControlStoreProtocol, clock: FakeClock) -> None:
    rules = [{"name": "Psi", "metric": "psi", "for": "10m"}]
    a = Alerting(alerting_settings(rules=rules), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.3)])
    a.tick()
    clock.advance(MIN)
    a.sink.publish([result("income", 0.01, "ok", window=2)])
    for _ in range(5):
        clock.advance(10 * MIN)
        a.tick()
    assert _states(store) == {("income", "critical"): "resolved"}
    assert _messages(store) == []


def test_one_grouped_message_then_repeat_then_resolved(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    a.sink.publish([result(f, 0.4) for f in ("income", "age", "country")])
    a.tick()
    clock.advance(29 * SEC)
    a.tick()
    assert _messages(store) == []  # group_wait (30s) not over
    clock.advance(SEC)
    a.tick()
    sent = _messages(store)
    assert [m["route"] for m in sent] == ["chat", "pager"]  # one message per route
    assert sent[0]["title"] == "[FIRING:3] alertname=DriftDetected model=credit-risk (critical)"
    assert sent[0]["notify_type"] == "failure"
    for feature in ("income", "age", "country"):
        assert f"psi of {feature} on credit-risk = 0.4 (critical)" in sent[0]["body"]
    assert "http://driftd.test:8470/v1/models/credit-risk/drift?feature=income" in sent[0]["body"]
    # the drift holds: windows keep coming, nothing new is said until repeat_interval
    for w in range(2, 49):
        clock.advance(5 * MIN)
        a.sink.publish([result(f, 0.4, window=w) for f in ("income", "age", "country")])
        a.tick()
    assert len(_messages(store)) == 2  # 3h55m after the first message
    clock.advance(5 * MIN)
    a.tick()
    repeats = _messages(store)
    # 4h after the first message: exactly one repeat per route, with the latest window
    assert [m["route"] for m in repeats] == ["chat", "pager", "chat", "pager"]
    assert "window 48 (1000 events" in repeats[2]["body"]
    # it resolves: one resolved message per route, then the group is gone
    a.sink.publish([result(f, 0.01, "ok", window=60) for f in ("income", "age", "country")])
    a.tick()
    clock.advance(5 * MIN)
    a.tick()
    final = _messages(store)
    assert len(final) == 6
    resolved = final[4:]
    assert {m["route"] for m in resolved} == {"chat", "pager"}
    assert all(
        m["notify_type"] == "success" and m["title"].startswith("[RESOLVED]") for m in resolved
    )
    assert "Resolved (3):" in resolved[0]["body"]
    for _ in range(3):
        clock.advance(4 * 3600 * SEC)
        a.tick()
    assert len(_messages(store)) == 6
    assert store.list_groups() == []


def test_a_new_alert_joins_at_the_next_group_interval(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    a = Alerting(
        alerting_settings(
            routes=[
                {
                    "name": "chat",
                    "severities": ["warning", "critical"],
                    "urls": ["json://127.0.0.1:9/"],
                }
            ]
        ),
        store,
        Metrics(),
        clock=clock,
    )
    a.sink.publish([result("income", 0.4)])
    a.tick()
    clock.advance(30 * SEC)
    a.tick()
    a.sink.publish([result("age", 0.4, window=2)])
    clock.advance(MIN)
    a.tick()
    assert len(_messages(store)) == 1
    clock.advance(4 * MIN)  # group_interval (5m) after the first message
    a.tick()
    second = _messages(store)[1]
    assert second["title"].startswith("[FIRING:2]")


def test_critical_inhibits_warning_on_the_same_feature_only(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    a = Alerting(
        alerting_settings(
            rules=[
                {"name": "PsiWarn", "metric": "psi", "thresholds": {"warning": 0.1}},
                {"name": "PsiCrit", "metric": "psi", "thresholds": {"critical": 0.25}},
            ],
            group_by=["model"],
        ),
        store,
        Metrics(),
        clock=clock,
    )
    a.sink.publish([result("income", 0.4), result("age", 0.15)])
    a.tick()
    clock.advance(30 * SEC)
    a.tick()
    chat = _messages(store, "chat")
    assert len(chat) == 1 and chat[0]["title"].startswith("[FIRING:2]")
    body = chat[0]["body"]
    assert "PsiCrit: psi of income" in body
    assert "PsiWarn: psi of age" in body  # no critical on age: not inhibited
    assert "PsiWarn: psi of income" not in body  # inhibited by PsiCrit on income


def test_silence_mutes_what_it_matches_and_nothing_else(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    store.put_silence(
        SilenceRecord(
            "s1",
            [Matcher("feature", "inc.*", is_regex=True)],
            clock.now,
            clock.now + 3600 * SEC,
            "ops",
            "known",
            clock.now,
        )
    )
    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.4), result("age", 0.4)])
    a.tick()
    clock.advance(30 * SEC)
    a.tick()
    pager = _messages(store, "pager")
    assert len(pager) == 1 and "age" in pager[0]["body"] and "income" not in pager[0]["body"]
    # once the silence expires, income joins at the next group interval
    assert store.expire_silence("s1", clock.now)
    clock.advance(5 * MIN)
    a.tick()
    pager = _messages(store, "pager")
    assert len(pager) == 2 and "income" in pager[1]["body"]


def test_restart_mid_firing_sends_no_duplicate(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    with ControlStore(url) as store:
        store.migrate()
        a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
        a.sink.publish([result("income", 0.4)])
        a.tick()
        clock.advance(30 * SEC)
        a.tick()
        a.close()
        assert len(_messages(store)) == 2
    for restart in range(3):
        with ControlStore(url) as store:
            store.migrate()
            b = Alerting(alerting_settings(), store, Metrics(), clock=clock)
            b.sink.publish([result("income", 0.4, window=2 + restart)])
            b.tick()
            clock.advance(MIN)
            b.tick()
            b.close()
            assert len(_messages(store)) == 2
            assert [x.state for x in store.list_alerts()] == ["firing"]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_on_one_store_raise_one_alert_and_one_message(
    tmp_path: Path, clock: FakeClock, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/c.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    stores = [ControlStore(url), ControlStore(url)]
    stores[0].migrate()
    procs = [Alerting(alerting_settings(), s, Metrics(), clock=clock) for s in stores]
    for p in procs:  # a rebalance: both saw the same window
        p.sink.publish([result("income", 0.4)])
        p.tick()
    clock.advance(30 * SEC)
    for p in procs:
        p.tick()
    assert len(stores[0].list_alerts()) == 1
    assert [m["route"] for m in _messages(stores[0])] == ["chat", "pager"]
    for s in stores:
        s.close()


def test_severity_change_resolves_the_old_alert(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.15, "warning")])
    a.tick()
    clock.advance(MIN)
    a.sink.publish([result("income", 0.4, "critical", window=2)])
    a.tick()
    assert _states(store) == {("income", "warning"): "resolved", ("income", "critical"): "firing"}


def test_alerts_of_a_removed_rule_resolve(store: ControlStoreProtocol, clock: FakeClock) -> None:
    rules = [{"name": "Old", "metric": "psi"}]
    a = Alerting(alerting_settings(rules=rules), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.4)])
    a.tick()
    assert _states(store) == {("income", "critical"): "firing"}
    b = Alerting(
        alerting_settings(rules=[{"name": "New", "metric": "ks"}]), store, Metrics(), clock=clock
    )
    clock.advance(SEC)
    b.tick()
    assert _states(store) == {("income", "critical"): "resolved"}


def test_an_alert_that_fires_again_after_resolving_is_announced_again(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    for round_ in range(3):
        a.sink.publish([result("income", 0.4, window=10 * round_)])
        a.tick()
        clock.advance(30 * SEC)
        a.tick()
        a.sink.publish([result("income", 0.01, "ok", window=10 * round_ + 1)])
        a.tick()
        clock.advance(5 * MIN)
        a.tick()
    titles = [m["title"][:10] for m in _messages(store, "pager")]
    assert titles == ["[FIRING:1]", "[RESOLVED]"] * 3


def test_results_survive_a_control_store_failure(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    """A tick that fails on the store keeps its results for the next tick."""
    from driftd.errors import StorageUnavailableError

    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    a.sink.publish([result("income", 0.4)])
    real = store.list_alerts
    calls = {"n": 0}

    def failing_once(*args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageUnavailableError("control store refused the connection")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    store.list_alerts = failing_once  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailableError):
        a.tick()
    a.tick()
    assert _states(store) == {("income", "critical"): "firing"}
