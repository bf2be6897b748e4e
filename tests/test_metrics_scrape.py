"""``/metrics`` of a live daemon fed with drift: complete, promtool-clean, scraped by Prometheus."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftd import __version__
from driftd.daemon import Daemon
from tests.conftest import free_port
from tests.daemons import running_daemon, upload_baseline

MODEL = "scored"
WINDOW = 200


@pytest.fixture
def drifting(chdb_url: str, database: str, tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose model has closed two windows of shifted data, and one dead letter."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 2_000), "score": rng.random(2_000)})
    window = {"size": WINDOW, "min_size": WINDOW}
    with running_daemon(chdb_url, database, tmp_path, window=window) as daemon:
        upload_baseline(daemon, frame, MODEL, "v1", "score")
        events = [{"model": MODEL, "features": {"x": float(x)}, "prediction": float(p)}
                  for x, p in zip(rng.normal(2, 1, 2 * WINDOW), rng.random(2 * WINDOW),
                                  strict=True)]  # fmt: skip
        url = f"http://127.0.0.1:{daemon.port}"
        assert httpx.post(f"{url}/v1/events/predictions", json=events, timeout=60).is_success
        stray = {"model": "unknown", "features": {"x": 1.0}, "prediction": 0.5}  # a dead letter
        assert httpx.post(f"{url}/v1/events/predictions", json=stray).json()["rejected_total"] == 1
        deadline = time.monotonic() + 120
        while "driftd_drift_value{" not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline, "no drift series after 120 s"
            time.sleep(0.2)
        yield daemon


def test_metrics_are_complete_and_promtool_clean(drifting: Daemon, tmp_path: Path) -> None:
    text = httpx.get(f"http://127.0.0.1:{drifting.port}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("process_cpu_seconds", "process_resident_memory_bytes",
                 "process_start_time_seconds", "python_info", "python_gc_collections"):  # fmt: skip
        assert name in families, name
    (build,) = families["driftd_build_info"].samples
    assert build.labels["version"] == __version__ and build.value == 1
    (closed,) = families["driftd_last_window_closed_timestamp_seconds"].samples
    assert closed.labels == {"model": MODEL}
    start = families["process_start_time_seconds"].samples[0].value
    assert start <= closed.value <= time.time()
    drift = [s for s in families["driftd_drift_value"].samples if s.labels["feature"] == "x"]
    assert {s.labels["metric"] for s in drift} >= {"ks", "psi"}

    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is not installed"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked


def test_prometheus_scrapes_the_daemon_and_answers_for_a_drift_series(
    drifting: Daemon, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus is not None, "prometheus (Debian package prometheus) is not installed"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: driftd\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{drifting.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        query = f'driftd_drift_value{{model="{MODEL}",feature="x",metric="psi"}}'
        deadline = time.monotonic() + 180
        result: list[dict[str, object]] = []
        while not result:
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=10
                ).json()
                result = answer["data"]["result"]
            except (httpx.HTTPError, ValueError, KeyError):  # still starting: not ready yet
                pass
            if not result:
                time.sleep(0.5)
        (series,) = result
        labels = series["metric"]
        assert isinstance(labels, dict) and labels["baseline_version"] == "v1"
        value = series["value"]
        assert isinstance(value, list) and float(value[1]) > 0.1  # a shift of 2 sd: large PSI
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
