"""The README's demo, and the daemon as a process: readiness, ingest, SIGTERM drain."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port


def demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftd.cli", "demo", "--events", "3000", "--window", "300",
         "--dir", str(tmp_path / "demo"), *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_demo_over_http_shows_the_injected_drift(tmp_path: Path) -> None:
    result = demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "10 windows of 300 judged" in out
    assert "drifted features income, country above 0.25 after the change: yes" in out
    assert "stable ones after it: yes" in out


@pytest.mark.kafka
def test_demo_through_kafka(tmp_path: Path, tansu: str) -> None:
    result = demo(tmp_path, "--kafka", tansu)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"through Kafka at {tansu}" in result.stdout


def test_daemon_process_serves_then_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": f"chdb://{tmp_path / 'ch'}",
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": port},
    }))  # fmt: skip
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftd.cli", "--config", str(config), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("daemon never became ready: " + (tmp_path / "daemon.log").read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "daemon.log").read_text()
    assert "draining" in text and "stopped" in text
