"""``driftd baseline create|list|show``: directly on storage, or through a running daemon.

An embedded chDB directory can be opened by one process only, so when the
configured daemon answers on its API (or ``--api`` names one) the command goes
through it. Profiling always happens here, streaming the file in chunks; only
the profile travels.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from driftd.baselines import BaselineSummary, save_baseline, summarise
from driftd.config import Settings
from driftd.detectors import BaselineProfile, profile_file
from driftd.errors import (
    BaselineError,
    BaselineExistsError,
    BaselineNotFoundError,
    ConfigError,
    StorageError,
)

__all__ = ["run_baseline"]


class _Backend(Protocol):
    def save(self, profile: BaselineProfile) -> tuple[bool, BaselineSummary]: ...
    def list(self, model: str | None) -> list[BaselineSummary]: ...
    def show(self, model: str, version: str | None) -> dict[str, Any]: ...


class _Direct:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        from driftd.services import _ensure_dir
        from driftd.storage.clickhouse import EventStore
        from driftd.storage.control import ControlStore

        st = settings.storage
        _ensure_dir(st.clickhouse_url, "chdb://")
        _ensure_dir(st.control_url, "sqlite:///")
        self.store = EventStore.connect(st.clickhouse_url, st.database, st.raw_ttl_days)
        self.control = ControlStore(st.control_url)
        self.store.migrate()
        self.control.migrate()

    def close(self) -> None:
        self.store.close()
        self.control.close()

    def save(self, profile: BaselineProfile) -> tuple[bool, BaselineSummary]:
        from driftd.services import scrubber_from

        return save_baseline(self.store, self.control, profile, scrubber_from(self.settings))

    def list(self, model: str | None) -> list[BaselineSummary]:
        return [summarise(b) for b in self.store.list_baselines(model)]

    def show(self, model: str, version: str | None) -> dict[str, Any]:
        stored = self.store.get_baseline(model, version)
        return {
            "summary": summarise(stored).model_dump(),
            "profile": json.loads(stored.profile_json),
        }


class _Remote:
    def __init__(self, url: str) -> None:
        import os

        key = os.environ.get("DRIFTD_API_KEY", "")  # admin scope to create, read to list
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=120, headers=headers)

    def close(self) -> None:
        self.client.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
            detail = body.get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code == 409:
            raise BaselineExistsError(str(detail))
        if response.status_code == 404:
            raise BaselineNotFoundError(str(detail))
        if response.status_code in (400, 422):
            raise BaselineError(str(detail))
        raise StorageError(f"the daemon answered {response.status_code}: {detail}")

    def save(self, profile: BaselineProfile) -> tuple[bool, BaselineSummary]:
        r = self.client.post(
            f"/v1/models/{profile.model}/baselines", json={"profile": profile.to_dict()}
        )
        return r.status_code == 201, BaselineSummary(**self._check(r))

    def list(self, model: str | None) -> list[BaselineSummary]:
        models = (
            [model] if model else [m["name"] for m in self._check(self.client.get("/v1/models"))]
        )
        out: list[BaselineSummary] = []
        for name in models:
            out += [
                BaselineSummary(**b)
                for b in self._check(self.client.get(f"/v1/models/{name}/baselines"))
            ]
        return out

    def show(self, model: str, version: str | None) -> dict[str, Any]:
        if version is None:
            listed = self.list(model)  # oldest first
            if not listed:
                raise BaselineNotFoundError(f"no baseline for model {model!r}")
            version = max(listed, key=lambda b: (b.created_ms, b.version)).version
        detail: dict[str, Any] = self._check(
            self.client.get(f"/v1/models/{model}/baselines/{version}")
        )
        return detail


def _daemon_url(settings: Settings) -> str | None:
    host = settings.api.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{host}:{settings.api.port}"
    try:
        ok = httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return None
    return url if ok else None


@contextmanager
def _backend(settings: Settings, api: str | None) -> Iterator[_Backend]:
    url = api or (_daemon_url(settings) if settings.storage.embedded else None)
    backend: _Remote | _Direct = _Remote(url) if url else _Direct(settings)
    try:
        yield backend
    finally:
        backend.close()


def _parse_metrics(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError([("--metric", item, "use NAME=NUMBER, e.g. --metric auc=0.91")])
    return out


def run_baseline(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "create":
        profile = profile_file(
            args.data,
            args.model,
            args.version,
            prediction=args.prediction,
            label=args.label,
            features=args.features,
            metrics=_parse_metrics(args.metric) or None,
            chunk_rows=args.chunk_rows,
        )
        with _backend(settings, args.api) as backend:
            created, summary = backend.save(profile)
        verb = "created" if created else "already stored (identical data)"
        print(
            f"baseline {summary.model} {summary.version} {verb}: {summary.n_rows} rows, "
            f"{summary.features} features, fingerprint {summary.fingerprint[:12]}"
        )
        return 0
    with _backend(settings, args.api) as backend:
        if args.action == "list":
            rows = backend.list(args.model)
            print(f"{'MODEL':<24} {'VERSION':<20} {'ROWS':>10} {'FEATURES':>8}  FINGERPRINT")
            for b in rows:
                print(
                    f"{b.model:<24} {b.version:<20} {b.n_rows:>10} {b.features:>8}  "
                    f"{b.fingerprint[:12]}"
                )
            return 0
        print(json.dumps(backend.show(args.model, args.version), indent=2))
        return 0
