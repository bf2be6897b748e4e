"""API keys over real HTTP: scopes, per-model restriction, default-deny, rate limits, TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from driftd.api.auth import RateLimiter, include
from driftd.cli import main
from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.errors import ConfigError

MODEL = "fraud"


def _settings(chdb_url: str, database: str, tmp_path: Path, **api: Any) -> Any:
    return load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": 0, "auth": "keys", "key_cache_s": 0, **api},
        collector={"batch_max_wait_ms": 20},
    )  # fmt: skip


@pytest.fixture
def daemon(chdb_url: str, database: str, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(_settings(chdb_url, database, tmp_path), "all")
    d.start()
    try:
        yield d
    finally:
        d.stop()


def _client(d: Daemon, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{d.port}", headers=headers, timeout=30)


def _key(d: Daemon, *scopes: str, models: tuple[str, ...] = ()) -> str:
    assert d.services is not None
    token, _ = d.services.api_keys.create("test", list(scopes), list(models))
    return token


EVENT = {"model": MODEL, "features": {"x": 1.0}, "prediction": 0.5}


def test_open_paths_and_refusals(daemon: Daemon) -> None:
    with _client(daemon) as anon:
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/metrics").status_code == 200
        refused = anon.get("/v1/models")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"] == "unauthorized"
        assert anon.post("/v1/events/predictions", json=EVENT).status_code == 401
    with _client(daemon, "drk_not-a-key-at-all-0123456789abcdef") as wrong:
        assert wrong.get("/v1/models").status_code == 401


def test_scopes(daemon: Daemon) -> None:
    read, ingest, admin = _key(daemon, "read"), _key(daemon, "ingest"), _key(daemon, "admin")
    with _client(daemon, read) as c:
        assert c.get("/v1/models").status_code == 200
        assert c.post("/v1/events/predictions", json=EVENT).status_code == 403
        assert c.get("/v1/deadletters").status_code == 403
        assert c.post(f"/v1/models/{MODEL}/baselines", json={"profile": {}}).status_code == 403
    with _client(daemon, ingest) as c:
        assert c.post("/v1/events/predictions", json=EVENT).status_code == 200
        assert c.get("/v1/models").status_code == 403
    with _client(daemon, admin) as c:
        assert c.get("/v1/deadletters").status_code == 200
        assert c.get("/v1/models").status_code == 200


def test_revoked_keys_stop_working(daemon: Daemon) -> None:
    assert daemon.services is not None
    token, key = daemon.services.api_keys.create("gone", ["read"])
    with _client(daemon, token) as c:
        assert c.get("/v1/models").status_code == 200
        daemon.services.api_keys.revoke(key.key_id)
        assert c.get("/v1/models").status_code == 401


def test_a_key_for_one_model_sees_nothing_of_another(daemon: Daemon) -> None:
    admin = _key(daemon, "admin")
    with _client(daemon, admin) as c:
        for model in ("fraud", "churn"):
            c.post("/v1/events/predictions", json={**EVENT, "model": model})
    only_fraud = _key(daemon, "read", "ingest", models=("fraud",))
    with _client(daemon, only_fraud) as c:
        assert all(m["name"] == "fraud" for m in c.get("/v1/models").json())
        hidden = c.get("/v1/models/churn/baselines")
        missing = c.get("/v1/models/nosuchmodel/baselines")
        assert hidden.status_code == missing.status_code == 404
        same = [{k: v for k, v in r.json().items() if k != "instance"} for r in (hidden, missing)]
        assert same[0] == same[1]  # nothing tells a hidden model from a missing one
        assert (same[0]["error"], same[0]["detail"]) == ("model_not_found", "no such model")
        assert hidden.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/models/fraud/baselines").status_code == 200
        foreign = c.post("/v1/events/predictions", json=[EVENT, {**EVENT, "model": "churn"}])
        assert foreign.status_code == 404
        assert c.post("/v1/events/predictions", json=EVENT).status_code == 200


def test_a_router_attached_without_a_scope_needs_admin(daemon: Daemon) -> None:
    assert daemon.services is not None
    from driftd.api.app import create_app

    app = create_app(daemon.services)
    extra = APIRouter()

    @extra.get("/v1/later")
    async def later() -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(extra)  # as a router added later by someone else would be
    probe = APIRouter()

    @probe.get("/v1/probe")
    async def probe_route() -> dict[str, str]:
        return {"ok": "yes"}

    include(app, probe, "read")
    read, admin = _key(daemon, "read"), _key(daemon, "admin")

    async def calls() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            bearer = {"read": {"Authorization": f"Bearer {read}"},
                      "admin": {"Authorization": f"Bearer {admin}"}}  # fmt: skip
            return [
                (await client.get("/v1/later")).status_code,
                (await client.get("/v1/later", headers=bearer["read"])).status_code,
                (await client.get("/v1/later", headers=bearer["admin"])).status_code,
                (await client.get("/v1/probe", headers=bearer["read"])).status_code,
            ]

    assert asyncio.run(calls()) == [401, 403, 200, 200]


def test_rate_limit_answers_429_with_retry_after(
    chdb_url: str, database: str, tmp_path: Path
) -> None:
    d = Daemon(_settings(chdb_url, database, tmp_path, rate_limit_per_s=0.01, rate_burst=3), "all")
    d.start()
    try:
        key, other = _key(d, "read"), _key(d, "read")
        with _client(d, key) as c:
            codes = [c.get("/v1/models").status_code for _ in range(5)]
            assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
            last = c.get("/v1/models")
            assert last.json()["error"] == "rate_limited"
            assert int(last.headers["retry-after"]) >= 1
        with _client(d, other) as c:  # per key: another key is not limited
            assert c.get("/v1/models").status_code == 200
    finally:
        d.stop()


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("k") == 0.0


def test_non_loopback_without_keys_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="auth"):
        load_settings(None, api={"host": "0.0.0.0", "auth": "off"})
    allowed = load_settings(
        None, api={"host": "0.0.0.0", "auth": "off", "allow_unauthenticated": True}
    )
    assert not allowed.api.keys_required
    assert load_settings(None, api={"host": "0.0.0.0"}).api.keys_required  # auto
    assert not load_settings(None).api.keys_required  # the loopback sidecar default


def test_keys_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTD_STORAGE__CONTROL_URL", f"sqlite:///{tmp_path / 'c.db'}")
    assert main(["keys", "create", "--name", "grafana", "--scope", "read", "--model", "fraud"]) == 0
    out = capsys.readouterr().out
    token = out.strip().splitlines()[-1]
    assert token.startswith("drk_")
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "grafana" in listed and "fraud" in listed and token not in listed
    key_id = listed.splitlines()[1].split()[0]
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "revoke", key_id]) == 1
    assert "revoked" in capsys.readouterr().out
    assert token.encode() not in (tmp_path / "c.db").read_bytes()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_api_over_tls(chdb_url: str, database: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    settings = _settings(chdb_url, database, tmp_path, ssl_certfile=str(cert), ssl_keyfile=str(key))
    d = Daemon(settings, "all")
    d.start()
    try:
        token = _key(d, "read")
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://127.0.0.1:{d.port}"
        with httpx.Client(base_url=url, verify=context, timeout=30) as c:
            assert c.get("/healthz").status_code == 200
            ok = c.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{d.port}/healthz", timeout=5)
    finally:
        d.stop()


def test_a_model_restricted_key_cannot_use_the_kserve_route(daemon: Daemon) -> None:
    restricted = _key(daemon, "ingest", models=("fraud",))
    headers = {"ce-id": "1", "ce-source": "s", "ce-specversion": "1.0",
               "ce-type": "org.kubeflow.serving.inference.request"}  # fmt: skip
    with _client(daemon, restricted) as c:
        answer = c.post("/v1/events/kserve", json={"instances": [[1.0]]}, headers=headers)
        assert answer.status_code == 404 and answer.json()["error"] == "model_not_found"
    with _client(daemon, _key(daemon, "ingest")) as c:
        assert (
            c.post("/v1/events/kserve", json={"instances": [[1.0]]}, headers=headers).status_code
            == 202
        )
