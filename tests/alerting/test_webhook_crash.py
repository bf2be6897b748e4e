"""A daemon killed (SIGKILL) between two attempts of a webhook still delivers it after restart.

The daemon runs as a subprocess on its own embedded storage. The receiver
fails the first attempt; the daemon is killed once that failure is recorded
and before the retry (12 s after it); the restarted daemon makes the retry from the
durable outbox: one successful delivery, the same ``webhook-id``. The page
sent before the crash is not sent again after it, while the drift holds.
"""

from __future__ import annotations

import base64
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.alerting.receivers import http_receiver, wait_for
from tests.alerting.test_webhooks import verify
from tests.api.test_http_api import MODEL, events, frame
from tests.conftest import free_port

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _start(tmp_path: Path, config: Path, port: int, run: int) -> subprocess.Popen[bytes]:
    with (tmp_path / f"daemon-{run}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "driftd.cli", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail("daemon exited: " + (tmp_path / f"daemon-{run}.log").read_text())
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 120, "the daemon to be ready")
    return proc


def _outbox(port: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = httpx.get(
        f"http://127.0.0.1:{port}/v1/webhooks/deliveries", timeout=10
    ).json()
    return found


def _hook(port: int) -> dict[str, object]:
    (hook,) = [d for d in _outbox(port) if d["kind"] == "webhook"]
    return hook


def _alert_window(port: int) -> int:
    alerts = httpx.get(f"http://127.0.0.1:{port}/v1/alerts", timeout=10).json()
    return max((int(a["window"]["window_id"]) for a in alerts), default=-1)


def test_sigkill_between_retries_still_delivers_after_restart(tmp_path: Path) -> None:
    from driftd.detectors import profile_dataframe

    port = free_port()
    with http_receiver(script=[500]) as rx, http_receiver() as notes:
        config = tmp_path / "driftd.yaml"
        config.write_text(yaml.safe_dump({
            "storage": {"clickhouse_url": f"chdb://{tmp_path / 'ch'}",
                        "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
            "api": {"port": port},
            "window": {"size": 200},
            "collector": {"batch_max_wait_ms": 20},
            # the retry is due 12 s after the first attempt: room for the kill on a busy machine
            # (it follows the failed attempt by ~1.5 s: the page's group_wait, one outbox poll)
            "alerting": {"tick": "100ms",
                         "outbox": {"poll": "100ms", "webhook_schedule": ["0s", "12s"]},
                         "allow_private_targets": True, "group_wait": "1s",
                         "routes": [{"name": "team", "severities": ["critical"],
                                     "urls": [f"json://127.0.0.1:{notes.port}/"]}],
                         "webhooks": [{"name": "retrain", "url": f"{rx.url}/hook",
                                       "secret": SECRET}]},
        }))  # fmt: skip
        proc = _start(tmp_path, config, port, 1)
        try:
            api = f"http://127.0.0.1:{port}"
            profile = profile_dataframe(frame(), MODEL, "v1", prediction="score")
            r = httpx.post(f"{api}/v1/models/{MODEL}/baselines",
                           json={"profile": profile.to_dict()}, timeout=60)  # fmt: skip
            assert r.status_code == 201, r.text
            r = httpx.post(f"{api}/v1/events/predictions", json=events(frame(400, shift=1.5)),
                           timeout=60)  # fmt: skip
            assert r.status_code == 200, r.text
            wait_for(lambda: len(rx.requests) == 1, 60, "the first (failing) attempt")
            wait_for(lambda: len(notes.requests) == 1, 60, "the page")
            wait_for(lambda: _hook(port)["attempts"] == 1, 30, "the attempt to be recorded")
            pending = _hook(port)
            assert pending["state"] == "pending" and pending["last_status"] == 500
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        assert len(rx.requests) == 1  # killed before the retry (due 12 s after the first)
        proc = _start(tmp_path, config, port, 2)
        try:
            wait_for(lambda: len(rx.ok()) == 1, 90, "the retry after restart")
            delivered = _hook(port)
            assert delivered["state"] == "delivered" and delivered["attempts"] == 2
            # the restarted daemon keeps paging state: the firing alert is not paged again
            later = [{**e, "event_id": f"later-{i}"} for i, e in enumerate(events(frame(200, 1.5)))]
            httpx.post(f"{api}/v1/events/predictions", json=later, timeout=60).raise_for_status()
            wait_for(lambda: _alert_window(port) >= 2, 60, "the next window in alert state")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        assert len(notes.requests) == 1  # one page, across the crash and the restart
        ids = {req.headers["webhook-id"] for req in rx.requests}
        assert ids == {delivered["id"]}
        assert [req.status for req in rx.requests] == [500, 200]
        body = verify(SECRET, rx.requests[1], int(rx.requests[1].headers["webhook-timestamp"]))
        assert body["model"] == MODEL
