"""Properties of the alert lifecycle over random result sequences (in-memory store, fake clock).

Whatever the order of results and clock steps: at most one active alert per
condition; a group's messages are at least ``group_interval`` apart and the
first waits ``group_wait``; and once everything resolves, every group that
announced a firing alert has announced its resolution, and no group is left.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftd.alerting.service import Alerting
from driftd.metrics import Metrics
from driftd.storage import InMemoryControlStore
from tests.alerting.conftest import FakeClock, alerting_settings, result

SEC = 1_000
GROUP_WAIT, GROUP_INTERVAL = 30 * SEC, 5 * 60 * SEC

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("result"),
            st.sampled_from(["income", "age"]),
            st.sampled_from(["ok", "warning", "critical"]),
        ),
        st.tuples(st.just("advance"), st.sampled_from([SEC, 30 * SEC, 5 * 60 * SEC, 3600 * SEC])),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_lifecycle_invariants(steps: list[tuple[object, ...]]) -> None:
    store = InMemoryControlStore()
    clock = FakeClock()
    a = Alerting(alerting_settings(), store, Metrics(), clock=clock)
    window = 0
    for step in steps:
        if step[0] == "result":
            window += 1
            value = {"ok": 0.01, "warning": 0.15, "critical": 0.4}[str(step[2])]
            a.sink.publish([result(str(step[1]), value, step[2], window=window)])  # type: ignore[arg-type]
        else:
            clock.advance(int(step[1]))  # type: ignore[call-overload]
        a.tick()
        active = [x for x in store.list_alerts() if x.state != "resolved"]
        features = [x.labels["feature"] for x in active]
        assert len(features) == len(set(features)), "two active alerts for one condition"
    # everything resolves, and time passes
    window += 1
    a.sink.publish([result(f, 0.01, "ok", window=window) for f in ("income", "age")])
    for _ in range(3):
        a.tick()
        clock.advance(GROUP_INTERVAL)
    a.tick()
    assert store.list_groups() == []
    lifetimes: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for item in store.list_outbox(kind="notification"):
        _, group, created, _version = item.key.rsplit(":", 3)
        title = json.loads(item.payload)["title"]
        lifetimes[f"{group}@{created}"].append((item.created_ms, title))
    for name, messages in lifetimes.items():
        messages.sort()
        created = int(name.rsplit("@", 1)[1])
        assert messages[0][0] - created >= GROUP_WAIT
        gaps = [b[0] - a_[0] for a_, b in itertools.pairwise(messages)]
        assert all(gap >= GROUP_INTERVAL for gap in gaps), (name, messages)
        assert messages[0][1].startswith("[FIRING:")
        assert messages[-1][1].startswith("[RESOLVED]"), (name, messages)
        assert all(t.startswith("[FIRING:") for _, t in messages[:-1])
