"""GET /v1/models/{model}/performance against a real in-process daemon (chDB, SQLite)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.daemons import running_daemon

from driftd.detectors import profile_dataframe

MODEL = "churn"


@pytest.fixture
def api(chdb_url: str, database: str, tmp_path: Path) -> Iterator[httpx.Client]:
    performance = {"window_s": 3600, "recompute_interval_s": 0.2, "min_labelled": 50,
                   "segment_keys": ["plan"]}  # fmt: skip
    with (
        running_daemon(
            chdb_url,
            database,
            tmp_path,
            window={"size": 50, "min_size": 50},
            performance=performance,
        ) as daemon,  # fmt: skip
        httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=30) as client,
    ):
        yield client


def _poll(api: httpx.Client, params: dict[str, Any], done: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        answer = api.get(f"/v1/models/{MODEL}/performance", params=params)
        assert answer.status_code == 200, answer.text
        if done(answer.json()) or time.monotonic() > deadline:
            return list(answer.json())
        time.sleep(0.2)


def test_outcomes_join_and_performance_is_served(api: httpx.Client) -> None:
    frame = pd.DataFrame({"tenure": np.arange(300) % 40, "score": np.linspace(0, 1, 300)})
    profile = profile_dataframe(frame, MODEL, "v1", prediction="score", metrics={"accuracy": 0.9})
    assert api.post(f"/v1/models/{MODEL}/baselines", json={"profile": profile.to_dict()}).is_success
    now = int(time.time() * 1000) // 3_600_000 * 3_600_000  # the start of this hour's window
    rng = np.random.default_rng(2)
    says = rng.random(400) < 0.5
    right = rng.random(400) < 0.6  # far below the baseline's 0.9
    predictions = [
        {"model": MODEL, "event_id": f"p{i}", "request_id": f"r{i}", "timestamp": now + i,
         "features": {"tenure": float(i % 40)},
         "prediction": {"yes": 0.8 if says[i] else 0.2, "no": 0.2 if says[i] else 0.8},
         "segments": {"plan": "pro" if i % 2 else "free"}}
        for i in range(400)
    ]  # fmt: skip
    outcomes = [
        {"model": MODEL, "request_id": f"r{i}", "event_id": f"o{i}",
         "outcome": "yes" if says[i] == right[i] else "no"}
        for i in range(400)
    ]  # fmt: skip
    assert api.post("/v1/events/outcomes", json=outcomes[:200]).is_success  # before predictions
    assert api.post("/v1/events/predictions", json=predictions).is_success
    assert api.post("/v1/events/outcomes", json=outcomes[200:]).is_success
    points = _poll(
        api,
        {"metric": "labelled_fraction"},
        lambda rows: bool(rows) and rows[-1]["value"] == 1.0,
    )
    assert points[-1]["value"] == 1.0 and points[-1]["n"] == 400
    assert points[-1]["time"] == now + 3_600_000 and points[-1]["final"] is False
    accuracy = _poll(api, {"metric": "accuracy"}, bool)[-1]
    expected = float(np.mean(right))
    assert accuracy["value"] == pytest.approx(expected)
    assert accuracy["severity"] == "critical"
    assert accuracy["effect_size"] == pytest.approx(expected - 0.9)
    pro = _poll(api, {"metric": "accuracy", "segment": "plan=pro"}, bool)[-1]
    assert pro["value"] == pytest.approx(float(np.mean(right[1::2])))
    everything = api.get(f"/v1/models/{MODEL}/performance", params={"segment": "*"}).json()
    assert {p["segment"] for p in everything} == {"", "plan=pro", "plan=free"}
    assert {"auc", "log_loss", "brier", "ece", "label_delay_p95_s"} <= {
        p["metric"] for p in everything
    }
    metrics = api.get("/metrics").text
    assert 'metric="accuracy"' in metrics and 'feature="__outcome__"' in metrics
    assert (
        api.get(f"/v1/models/{MODEL}/performance", params={"from": "yesterday"}).status_code == 400
    )
