"""Alerting in a live daemon (embedded chDB, SQLite): drift over HTTP → alert → one
notification and one signed webhook; the alerts, silences and deliveries API; the CLI."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftd.cli import main
from driftd.config import load_settings
from driftd.daemon import Daemon
from tests.alerting.receivers import HttpReceiver, http_receiver, wait_for
from tests.alerting.test_webhooks import verify
from tests.api.test_http_api import MODEL, events, frame, upload

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, HttpReceiver]]:
    with http_receiver() as notes, http_receiver() as hooks:
        yield notes, hooks


@pytest.fixture
def api(
    chdb_url: str, database: str, tmp_path: Path, receivers: tuple[HttpReceiver, HttpReceiver]
) -> Iterator[httpx.Client]:
    notes, hooks = receivers
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": 0},
        window={"size": 200},
        collector={"batch_max_wait_ms": 20},
        alerting={
            "tick": "100ms", "group_wait": "1s", "allow_private_targets": True,
            "outbox": {"poll": "100ms"},
            "rules": [{"name": "AmountDrift", "metric": "psi", "features": ["amount"],
                       "thresholds": {"warning": 0.1, "critical": 0.25},
                       "annotations": {"runbook_url": "https://runbooks.test/drift"}}],
            "routes": [{"name": "team", "severities": ["warning", "critical"],
                        "urls": [f"json://127.0.0.1:{notes.port}/notify"]}],
            "webhooks": [{"name": "retrain", "url": f"{hooks.url}/retrain", "secret": SECRET,
                          "preset": "airflow"}],
        },
    )  # fmt: skip
    daemon = Daemon(settings, "all")
    daemon.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client:
            yield client
    finally:
        daemon.stop()


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI configures the root logger; give the test's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _firing(api: httpx.Client) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = api.get("/v1/alerts", params={"state": "firing"}).json()
    return alerts


def test_drift_raises_one_alert_one_message_one_webhook(
    api: httpx.Client,
    receivers: tuple[HttpReceiver, HttpReceiver],
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    notes, hooks = receivers
    assert upload(api, "v1", frame()).status_code == 201
    live = events(frame(800, shift=1.5))
    for start in range(0, 800, 200):
        assert api.post("/v1/events/predictions", json=live[start : start + 200]).status_code == 200
    wait_for(lambda: len(_firing(api)) == 1, 60, "a firing alert")
    (alert,) = _firing(api)
    assert alert["labels"] == {"alertname": "AmountDrift", "model": MODEL, "feature": "amount",
                               "metric": "psi", "severity": "critical"}  # fmt: skip
    assert alert["window"]["n"] == 200 and alert["value"] >= 0.25
    wait_for(lambda: len(notes.requests) == 1 and len(hooks.requests) == 1, 60, "deliveries")
    note = notes.requests[0].body.decode()
    assert (
        "AmountDrift: psi of amount on fraud" in note and "runbook: https://runbooks.test" in note
    )
    body = verify(SECRET, hooks.requests[0], int(hooks.requests[0].headers["webhook-timestamp"]))
    assert body["conf"]["model"] == MODEL  # type: ignore[index]
    wait_for(lambda: _firing(api)[0]["last_notified"] is not None, 30, "last_notified")

    # deliveries: listed with attempts, one shown with its history, redelivered with the same id
    (hook,) = api.get("/v1/webhooks/deliveries", params={"kind": "webhook"}).json()
    assert (hook["state"], hook["attempts"], hook["next_attempt_at"]) == ("delivered", 1, None)
    assert hook["id"] == hooks.requests[0].headers["webhook-id"]
    one = api.get(f"/v1/webhooks/deliveries/{hook['id']}").json()
    assert [(h["attempt"], h["ok"], h["status"]) for h in one["history"]] == [(1, True, 200)]
    assert api.post(f"/v1/webhooks/deliveries/{hook['id']}/redeliver").status_code == 202
    wait_for(lambda: len(hooks.requests) == 2, 30, "the redelivery")
    assert hooks.requests[1].headers["webhook-id"] == hook["id"]
    assert api.post("/v1/webhooks/deliveries/nope/redeliver").json()["error"] == "not_found"
    assert api.get("/v1/webhooks/deliveries/nope").status_code == 404
    assert len(notes.requests) == 1  # nothing else was sent
    metrics = api.get("/metrics").text
    assert 'driftd_webhook_deliveries_total{outcome="delivered",webhook="retrain"} 2.0' in metrics
    assert 'driftd_notifications_total{outcome="delivered",route="team"} 1.0' in metrics

    # silences through the API
    made = api.post("/v1/silences", json={
        "matchers": [{"name": "feature", "value": "amount"}], "duration": "2h",
        "created_by": "ops", "comment": "known shift"})  # fmt: skip
    assert made.status_code == 201 and made.json()["state"] == "active"
    wait_for(lambda: _firing(api)[0]["muted"], 30, "the alert to be muted")
    silences = api.get("/v1/silences").json()
    assert [s["id"] for s in silences] == [made.json()["id"]]
    assert api.delete(f"/v1/silences/{made.json()['id']}").status_code == 204
    assert api.delete(f"/v1/silences/{made.json()['id']}").status_code == 404
    assert api.get("/v1/silences").json()[0]["state"] == "expired"
    bad = api.post("/v1/silences", json={"matchers": [{"name": "feature", "value": "(",
                                                        "is_regex": True}],
                                         "duration": "1h", "created_by": "ops"})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_silence"
    assert api.post("/v1/silences", json={"matchers": [], "duration": "1h",
                                          "created_by": "ops"}).status_code == 422  # fmt: skip

    # the CLI, through the same API
    url = str(api.base_url)
    assert main(["alerts", "list", "--api", url]) == 0
    out = capsys.readouterr().out
    assert "firing" in out and "AmountDrift" in out and "fraud/amount" in out
    assert main(["alerts", "silence", "--match", "model=fraud", "--match", "feature=~am.*",
                 "--duration", "30m", "--comment", "cli", "--api", url]) == 0  # fmt: skip
    silence_id = capsys.readouterr().out.split()[1]
    assert main(["alerts", "silences", "--api", url]) == 0
    assert "model=fraud,feature=~am.*" in capsys.readouterr().out
    assert main(["alerts", "expire", silence_id, "--api", url]) == 0
    assert main(["alerts", "expire", silence_id, "--api", url]) == 5  # data: no such silence
    assert "404" in capsys.readouterr().err
