"""The README's demo, and the daemon as a process: readiness, ingest, SIGTERM drain."""

from __future__ import annotations

import signal
import socket
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


def start_daemon(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = tmp_path / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": f"chdb://{tmp_path / 'ch'}",
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": port},
    }))  # fmt: skip
    with (tmp_path / "daemon.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "driftd.cli", "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    pytest.fail("daemon never became ready: " + (tmp_path / "daemon.log").read_text())


def test_daemon_process_serves_then_drains_on_sigterm(tmp_path: Path) -> None:
    proc, _ = start_daemon(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "daemon.log").read_text()
    assert "draining" in text and "stopped" in text


def test_second_signal_exits_at_once_while_draining(tmp_path: Path) -> None:
    proc, port = start_daemon(tmp_path)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        # a request whose body never finishes keeps the graceful drain waiting
        conn.sendall(
            b"POST /v1/events/predictions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(0.5)
        try:
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)
            assert proc.poll() is None, "the first signal drains (and waits for the request)"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "second signal" in (tmp_path / "daemon.log").read_text()
