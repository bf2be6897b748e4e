"""driftd's alerts in a real Alertmanager (Debian's ``prometheus-alertmanager``, on loopback)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftd.alerting.service import Alerting
from driftd.metrics import Metrics
from driftd.storage import ControlStoreProtocol
from tests.alerting.conftest import FakeClock, alerting_settings, result
from tests.alerting.receivers import wait_for
from tests.conftest import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Alertmanager binary absent (Debian package prometheus-alertmanager)"
)

CONFIG = """\
route:
  receiver: blackhole
  group_by: [alertname, model]
  group_wait: 1s
receivers:
  - name: blackhole
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    assert BINARY is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG)
    port = free_port()
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 60, "Alertmanager to be ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _alerts(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return found


def test_alertmanager_receives_shows_and_resolves_driftd_alerts(
    alertmanager: str, store: ControlStoreProtocol
) -> None:
    # two minutes in the past, so that stepping the clock never pushes times into the future
    clock = FakeClock(int(time.time() * 1000) - 120_000)
    metrics = Metrics()
    settings = alerting_settings(
        routes=[], alertmanager={"url": alertmanager, "resend_interval": "1m"}
    )
    a = Alerting(settings, store, metrics, clock=clock)
    a.sink.publish([result("income", 0.41), result("age", 0.02, "ok")])
    a.tick()
    wait_for(lambda: len(_alerts(alertmanager)) == 1, 30, "the alert in Alertmanager")
    (shown,) = _alerts(alertmanager)
    assert shown["labels"] == {
        "alertname": "DriftDetected",
        "model": "credit-risk",
        "feature": "income",
        "metric": "psi",
        "severity": "critical",
    }
    assert shown["status"]["state"] == "active"
    assert shown["generatorURL"].startswith("http://driftd.test:8470/v1/models/credit-risk/drift")
    assert shown["annotations"]["value"] == "0.41"
    # re-sent while firing: once per resend_interval, not on every pass
    a.tick()
    assert (
        metrics.registry.get_sample_value("driftd_alertmanager_pushes_total", {"outcome": "ok"})
        == 1.0
    )
    clock.advance(60_000)
    a.tick()
    assert (
        metrics.registry.get_sample_value("driftd_alertmanager_pushes_total", {"outcome": "ok"})
        == 2.0
    )
    # resolved: pushed once more with endsAt, and Alertmanager stops listing it
    clock.now = int(time.time() * 1000)
    a.sink.publish([result("income", 0.01, "ok", window=2)])
    a.tick()
    wait_for(lambda: _alerts(alertmanager) == [], 30, "the alert to resolve in Alertmanager")
    a.tick()
    assert (
        metrics.registry.get_sample_value("driftd_alertmanager_pushes_total", {"outcome": "ok"})
        == 3.0
    )
