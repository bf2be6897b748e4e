"""The built-in report: served by the API, written by the CLI, rendered by a real Chromium."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest

from driftd.cli import EXIT_DATA, main
from driftd.daemon import Daemon
from driftd.report import model_alerts
from driftd.storage.alert_records import AlertRecord, AlertState
from tests.test_metrics_scrape import MODEL, drifting

__all__ = ["drifting"]  # the live daemon fixture (two windows of shifted data)


def png_pixels(path: Path) -> np.ndarray:
    """An 8-bit RGB(A) PNG's pixels as an (n, 3) array (no imaging library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows = np.zeros((height, stride), dtype=np.int64)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 2:
            line = (line + prev) % 256
        elif kind in (1, 3, 4):  # Sub, Average, Paeth depend on the left pixel: one at a time
            out = line.copy()
            for x in range(stride):
                a = out[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                out[x] = (line[x] + pred) % 256
            line = out
        rows[y] = prev = line
    return rows.reshape(height, width, bpp)[:, :, :3].reshape(-1, 3)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "chromium (Debian package chromium) is not installed"
    return found


def headless(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={cwd / 'profile'}", *args],
        cwd=cwd, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def alerts_fired(daemon: Daemon) -> None:
    """Wait until the drift has raised a firing alert (alerting runs after the window closes)."""
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{daemon.port}/v1/alerts"
    while not httpx.get(url, params={"model": MODEL, "state": "firing"}).json():
        assert time.monotonic() < deadline, "no firing alert after 120 s"
        time.sleep(0.2)


def test_the_api_serves_a_self_contained_report(drifting: Daemon) -> None:
    alerts_fired(drifting)
    url = f"http://127.0.0.1:{drifting.port}/v1/models/{MODEL}/report"
    answer = httpx.get(url, params={"from": 0}, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
    assert page.count('class="chart dist"') == 1  # the one feature, x
    assert 'class="chart heatmap"' in page and "critical" in page
    assert "windows judged: 2;" in page  # two windows closed in the same millisecond
    # the alerts the drift raised: listed with severity and labels, outlined on the heatmap
    alerts = page.split("<h2>Alerts</h2>", 1)[1]
    assert '<table class="alerts">' in alerts and "DriftDetected" in alerts
    assert "<td>firing</td>" in alerts and "feature=x" in alerts and ">critical</span>" in alerts
    assert re.search(r'class="alert-mark"[^>]*><title>DriftDetected critical \(firing\)', page)
    missing = httpx.get(f"http://127.0.0.1:{drifting.port}/v1/models/nobody/report")
    assert missing.status_code == 404 and missing.json()["error"] == "baseline_not_found"


def test_the_report_renders_in_chromium(
    drifting: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts_fired(drifting)
    out = tmp_path / "report.html"
    api = f"http://127.0.0.1:{drifting.port}"
    assert main(["report", MODEL, "--out", str(out), "--from", "0", "--api", api]) == 0
    assert f"through the daemon at {api}" in capsys.readouterr().err
    assert main(["report", "nobody", "--out", str(tmp_path / "x.html"), "--api", api]) == EXIT_DATA

    dom = headless("--dump-dom", out.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<svg") == 2 and dom.stdout.count("<rect") > 20
    assert 'class="alert-mark"' in dom.stdout and "DriftDetected" in dom.stdout
    shot = tmp_path / "report.png"  # kept under the test's tmp dir as the artifact
    taken = headless(f"--screenshot={shot}", "--window-size=1200,1800", out.as_uri(), cwd=tmp_path)
    assert taken.returncode == 0 and shot.exists(), taken.stderr
    pixels = png_pixels(shot)
    # not blank: the bars' blue, the baseline's grey and a severity's red are all drawn
    for colour in ((0x1E, 0x88, 0xE5), (0x9E, 0x9E, 0x9E), (0xC6, 0x28, 0x28)):
        assert (pixels == colour).all(axis=1).sum() > 100, colour


def alert(
    model: str, state: AlertState, resolved: int | None = None, fired: int = 1_000
) -> AlertRecord:
    labels = {"alertname": "DriftDetected", "model": model, "severity": "warning", "feature": "x"}
    return AlertRecord(
        fingerprint=f"{model}-{state}-{resolved}", labels=labels, annotations={}, state=state,
        active_ms=fired, updated_ms=fired, value=1.0, resolved_ms=resolved,
        fired_ms=fired if state != "pending" else None,
    )  # fmt: skip


def test_the_report_lists_firing_pending_and_recently_resolved_alerts_of_its_model() -> None:
    class Control:
        def list_alerts(self, states: object = None) -> list[AlertRecord]:
            return [alert("m", "resolved", resolved=500), alert("m", "resolved", resolved=5_000),
                    alert("m", "pending"), alert("m", "firing", fired=3_000),
                    alert("m", "firing", fired=2_000), alert("other", "firing")]  # fmt: skip

    listed = model_alerts(Control(), "m", 1_000, 10_000)  # type: ignore[arg-type]
    assert [(a.state, a.fired_ms, a.resolved_ms) for a in listed] == [
        ("firing", 3_000, None), ("firing", 2_000, None), ("pending", None, None),
        ("resolved", 1_000, 5_000),  # the one resolved before the range is left out
    ]  # fmt: skip


def test_windows_closed_in_the_same_millisecond_are_two_columns_of_the_heatmap() -> None:
    from driftd.report import ReportData, render
    from driftd.storage.records import DriftMetric

    rows = [
        DriftMetric("m", "v1", wid, 5, 9, "x", "psi", value, 200, 10, severity=severity)
        for wid, value, severity in ((0, 0.01, "ok"), (1, 0.9, "critical"))
    ]
    page = render(ReportData("m", "v1", 1_000, 0, 0, 10, rows))
    assert "windows judged: 2;" in page
    heatmap = page.split('class="chart heatmap"', 1)[1].split("</svg>", 1)[0]
    assert (
        heatmap.count("<rect") == 2
        and ": ok</title>" in heatmap
        and ": critical</title>" in heatmap
    )


def test_the_distributions_use_the_baseline_the_newest_window_was_judged_against() -> None:
    """A baseline uploaded after the newest window must not stand in for the one that
    window was judged against (its bins and proportions are another training set's)."""
    import pandas as pd

    from driftd.baselines import create_baseline
    from driftd.report import gather
    from driftd.storage.memory import InMemoryControlStore, InMemoryEventStore
    from driftd.storage.records import DriftMetric
    from tests.monitoring.helpers import prediction

    store, control = InMemoryEventStore(), InMemoryControlStore()
    rng = np.random.default_rng(1)
    for version, centre in (("v1", 0.0), ("v2", 50.0)):
        frame = pd.DataFrame({"x": rng.normal(centre, 1.0, 2_000), "p": rng.random(2_000)})
        create_baseline(store, control, frame, "m", version, prediction="p")
    assert store.get_baseline("m").version == "v2"  # the newest
    store.insert_predictions(
        [prediction(i, timestamp_ms=1_000 + i, num={"x": float(rng.normal())}) for i in range(50)]
    )
    store.insert_drift_metrics(
        [DriftMetric("m", "v1", 0, 1_000, 1_050, "x", "psi", 0.01, 50, 2_000, severity="ok")]
    )
    data = gather(store, "m", 0, 10_000)
    assert data.baseline_version == "v1"
    (x,) = [d for d in data.distributions if d.name == "x"]
    v1 = json.loads(store.get_baseline("m", "v1").profile_json)["features"]["x"]
    assert x.baseline == [float(p) for p in v1["proportions"]]
    assert max(x.current) < 0.5  # spread over v1's deciles (all in v2's lowest bin else)
