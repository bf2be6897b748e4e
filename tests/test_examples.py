"""The example model server (examples/shim_server) against a real driftd, end to end."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from driftd.config import load_settings
from tests.daemons import running_daemon
from tests.shim.conftest import serve, wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_example_server_sends_its_predictions_to_driftd(
    chdb_url: str, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_daemon(chdb_url, database, tmp_path) as daemon:
        monkeypatch.setenv("DRIFTD_URL", f"http://127.0.0.1:{daemon.port}")
        monkeypatch.setenv("UPLOAD_BASELINE", "1")
        sys.modules.pop("examples.shim_server.app", None)
        example = importlib.import_module("examples.shim_server.app")
        applicant = {"income": 52000, "age": 41, "debt_ratio": 0.3, "country": "DE"}
        with serve(example.app) as url, httpx.Client(base_url=url, timeout=30) as client:
            ids = []
            for i in range(40):
                answer = client.post("/predict", json={**applicant, "age": 20 + i})
                assert answer.status_code == 200 and 0 < answer.json()["predictions"][0] < 1
                ids.append(answer.headers["x-request-id"])
            batch = client.post("/predict", json={"instances": [applicant, applicant]})
            rid = batch.headers["x-request-id"]
            client.post("/outcome", json={"request_id": ids[0], "outcome": 1})
            assert daemon.services is not None
            store = daemon.services.store
            wanted = {*ids, f"{rid}:0", f"{rid}:1"}
            wait_for(
                lambda: {r.request_id for r in store.read_predictions(
                    "credit-risk", 0, 4_102_444_800_000)} == wanted,
                what="the example's predictions in driftd",
            )  # fmt: skip
            wait_for(lambda: len(store.read_outcomes("credit-risk", 0, 4_102_444_800_000)) == 1)
        assert example.shim.stats.dropped == 0 and example.shim.stats.rejected == 0


def test_kserve_manifest_points_its_logger_at_the_driftd_sidecar() -> None:
    docs = list(yaml.safe_load_all((ROOT / "examples/kserve/inferenceservice.yaml").read_text()))
    isvc = next(d for d in docs if d["kind"] == "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["logger"]["mode"] == "all"
    url = httpx.URL(predictor["logger"]["url"])
    assert url.path == "/v1/events/kserve" and url.host in ("127.0.0.1", "localhost")
    (sidecar,) = [c for c in predictor["containers"] if c["name"] == "driftd"]
    assert {"containerPort": url.port} in [
        {"containerPort": p["containerPort"]} for p in sidecar["ports"]
    ]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    loaded = yaml.safe_load(config["data"]["driftd.yaml"])
    settings = load_settings(None, **loaded)
    assert settings.api.port == url.port
    assert isvc["metadata"]["name"] in settings.kserve.models
