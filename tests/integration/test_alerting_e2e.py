"""End to end: events with injected drift through Kafka (Tansu) → windows → results →
alerts → exactly one Apprise message and one signed webhook, nothing else."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import numpy as np
import pytest

from driftd.config import load_settings
from driftd.daemon import Daemon
from tests.alerting.receivers import http_receiver
from tests.alerting.test_webhooks import verify

from .kafka_helpers import (
    create_topics,
    dumps,
    event,
    kafka_settings,
    produce,
    seed_baselines,
    unique,
    wait_for,
)

pytestmark = pytest.mark.kafka
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
WINDOW = 500


def test_injected_drift_makes_one_message_and_one_signed_webhook(
    tansu: str, chdb_url: str, database: str, tmp_path: Path
) -> None:
    names = {k: unique(f"t-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 2)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    model = "credit-e2e"
    seed_baselines(chdb_url, database, control_url, [model])
    rng = np.random.default_rng(11)
    items = []
    for i in range(4 * WINDOW):
        e = event(model, i, rng)
        e["features"]["channel"] = str(rng.choice(["web", "app"]))  # as in training
        if i >= 2 * WINDOW:  # the second half: incomes jump
            e["features"]["income"] *= 3.0
        items.append((model.encode(), dumps(e)))

    with http_receiver() as notes, http_receiver() as hooks:
        settings = load_settings(
            None,
            storage={"clickhouse_url": chdb_url, "database": database,
                     "control_url": control_url},
            kafka=kafka_settings(tansu, names, unique("g")),
            api={"port": 0},
            window={"size": WINDOW},
            alerting={
                "tick": "100ms", "group_wait": "1s", "group_interval": "1s",
                "allow_private_targets": True, "outbox": {"poll": "100ms"},
                "routes": [{"name": "oncall", "severities": ["critical"],
                            "urls": [f"json://127.0.0.1:{notes.port}/"]}],
                "webhooks": [{"name": "retrain", "url": hooks.url, "secret": SECRET,
                              "preset": "github"}],
            },
        )  # fmt: skip
        daemon = Daemon(settings, "all")
        daemon.start()
        assert daemon.services is not None
        control = daemon.services.control
        try:
            produce(tansu, names["predictions"], items)

            def income_alert_saw_last_window() -> bool:
                alerts = [a for a in control.list_alerts() if a.labels["feature"] == "income"]
                return any(a.detail.get("window_id") == 3 for a in alerts)

            wait_for(income_alert_saw_last_window, 120, "the last window's result in alert state")
            last_update = max(a.updated_ms for a in control.list_alerts())
            wait_for(
                lambda: (
                    bool(groups := control.list_groups())
                    and all(g.next_flush_ms - 1_000 > last_update for g in groups)
                ),
                60,
                "a group flush after the last alert update",
            )
            wait_for(lambda: len(notes.requests) >= 1 and len(hooks.ok()) >= 1, 60, "deliveries")
            wait_for(
                lambda: all(o.state == "delivered" for o in control.list_outbox()),
                60,
                "the outbox to drain",
            )
        finally:
            daemon.stop()

        assert len(notes.requests) == 1 and len(hooks.requests) == 1
        message = json.loads(notes.requests[0].body)
        assert message["type"] == "failure" and message["title"].startswith("[FIRING:")
        assert "psi of income on credit-e2e" in message["message"]
        firing = [a for a in _alerts(control_url) if a["state"] == "firing"]
        assert {a["feature"] for a in firing} == {"income"}
        body = verify(
            SECRET, hooks.requests[0], int(hooks.requests[0].headers["webhook-timestamp"])
        )
        assert body["event_type"] == "driftd.retrain"
        payload = body["client_payload"]
        assert payload["model"] == model  # type: ignore[index]
        assert payload["windows"][0]["window_id"] >= 2  # type: ignore[index]


def _alerts(control_url: str) -> list[dict[str, str]]:
    from driftd.storage import ControlStore

    with ControlStore(control_url) as store:
        return [{**a.labels, "state": a.state} for a in store.list_alerts()]
