"""``driftd baseline create|list|show``: directly on storage, or through a running daemon.

An embedded chDB directory can be opened by one process only, so when the
configured daemon answers on its API (or ``--api`` names one) the command goes
through it. Profiling always happens here, streaming the file in chunks; only
the profile travels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import pandas as pd
import pyarrow.parquet as pq

from driftd.baselines import BaselineSummary, save_baseline, summarise, with_learned_thresholds
from driftd.config import Settings
from driftd.detectors import BaselineProfile, ProfileOptions, profile_file
from driftd.errors import (
    BaselineError,
    BaselineExistsError,
    BaselineNotFoundError,
    ConfigError,
    StorageError,
    StorageUnavailableError,
)
from driftd.progress import Progress
from driftd.storage.clickhouse import redact
from driftd.validation import read_columns, validation_metrics

__all__ = ["run_baseline", "run_report"]


class _Backend(Protocol):
    def save(self, profile: BaselineProfile) -> tuple[bool, BaselineSummary]: ...
    def list(self, model: str | None) -> list[BaselineSummary]: ...
    def show(self, model: str, version: str | None) -> dict[str, Any]: ...
    def report(self, model: str, from_: str | None, to: str | None, progress: Progress) -> str: ...


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

    def report(self, model: str, from_: str | None, to: str | None, progress: Progress) -> str:
        from driftd.api.deps import time_range
        from driftd.report import gather, render

        from_ms, to_ms = time_range(from_, to)
        progress.plan(6)  # four reads, rendering, writing
        now_ms = int(time.time() * 1000)
        data = gather(self.store, model, from_ms, to_ms, now_ms=now_ms, control=self.control,
                      step=progress.step)  # fmt: skip
        progress.step("rendering the page")
        return render(data)


class _Remote:
    def __init__(self, url: str) -> None:
        import os

        self.url = url.rstrip("/")
        key = os.environ.get("DRIFTD_API_KEY", "")  # admin scope to create, read to list
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.url, timeout=120, headers=headers)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str) -> Any:
        return self._check(self._send("GET", path))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StorageUnavailableError(
                f"cannot reach the daemon at {self.url} ({type(exc).__name__}: {exc}); "
                "start it with 'driftd run', or fix --api"
            ) from None

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
            detail = body.get("detail", response.text) if isinstance(body, dict) else body
        except ValueError:
            detail = response.text[:200]
        if response.status_code == 409:
            raise BaselineExistsError(str(detail))
        if response.status_code == 404:
            raise BaselineNotFoundError(str(detail))
        if response.status_code in (400, 422):
            raise BaselineError(str(detail))
        if response.status_code == 503:
            raise StorageUnavailableError(f"the daemon at {self.url} is not ready: {detail}")
        raise StorageError(f"the daemon at {self.url} answered {response.status_code}: {detail}")

    def save(self, profile: BaselineProfile) -> tuple[bool, BaselineSummary]:
        r = self._send(
            "POST", f"/v1/models/{profile.model}/baselines", json={"profile": profile.to_dict()}
        )
        return r.status_code == 201, BaselineSummary(**self._check(r))

    def list(self, model: str | None) -> list[BaselineSummary]:
        models = [model] if model else [m["name"] for m in self._get("/v1/models")]
        out: list[BaselineSummary] = []
        for name in models:
            out += [BaselineSummary(**b) for b in self._get(f"/v1/models/{name}/baselines")]
        return out

    def show(self, model: str, version: str | None) -> dict[str, Any]:
        if version is None:
            listed = self.list(model)
            if not listed:
                raise BaselineNotFoundError(f"no baseline for model {model!r}")
            version = max(listed, key=lambda b: (b.created_ms, b.version)).version
        detail: dict[str, Any] = self._get(f"/v1/models/{model}/baselines/{version}")
        return detail

    def report(self, model: str, from_: str | None, to: str | None, progress: Progress) -> str:
        params = {k: v for k, v in (("from", from_), ("to", to)) if v is not None}
        progress.plan(2)  # the daemon reads and renders, then writing
        progress.step(f"the daemon at {self.url} is reading and rendering the report")
        response = self._send("GET", f"/v1/models/{model}/report", params=params)
        if response.status_code >= 400:
            self._check(response)  # raises the error the daemon answered
        return response.text


def _daemon_url(settings: Settings) -> str | None:
    host = settings.api.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{host}:{settings.api.port}"
    try:
        response = httpx.get(f"{url}/healthz", timeout=1.0)
        ok = response.status_code == 200 and response.json().get("service") == "driftd"
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return url if ok else None


@contextmanager
def _backend(settings: Settings, api: str | None) -> Iterator[_Backend]:
    url = api or (_daemon_url(settings) if settings.storage.embedded else None)
    backend: _Remote | _Direct
    if url:
        _say(f"through the daemon at {url}")
        backend = _Remote(url)
    else:
        st = settings.storage
        _say(f"directly on storage {redact(st.clickhouse_url)} and {redact(st.control_url)}")
        backend = _Direct(settings)
    try:
        yield backend
    finally:
        backend.close()


def _say(message: str) -> None:
    """Progress and provenance go to stderr, so stdout stays the answer (and --json clean)."""
    print(f"driftd: {message}", file=sys.stderr)


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


def _metrics(args: argparse.Namespace) -> dict[str, float]:
    """Validation metrics computed from ``--label`` and the prediction, then ``--metric``."""
    stated = _parse_metrics(args.metric)
    probabilities = dict(_parse_probabilities(args.probabilities))
    if args.label is None or (args.prediction is None and not probabilities):
        return stated
    columns = [args.label, *([args.prediction] if args.prediction else []), *probabilities.values()]
    computed = validation_metrics(read_columns(args.data, columns), args.label, args.prediction,
                                  probabilities)  # fmt: skip
    return {**computed, **stated}


def _head(path: str, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of a training file (the windows thresholds are learned from)."""
    if path.lower().endswith((".parquet", ".pq")):
        batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
        head: pd.DataFrame = next(batches).to_pandas()
        return head
    return pd.read_csv(path, nrows=rows)


def _parse_probabilities(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        label, sep, column = item.partition("=")
        if not sep or not label or not column:
            fix = "use CLASS=COLUMN, e.g. --probabilities 1=p_default"
            raise ConfigError([("--probabilities", item, fix)])
        out.append((label, column))
    return tuple(out)


def _known_rows(path: str) -> int | None:
    """The row count a Parquet file states in its footer (a CSV's is known after pass 1)."""
    if not path.lower().endswith((".parquet", ".pq")):
        return None
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):  # profile_file reports the unreadable file properly
        return None


def _pass_progress(progress: Progress, path: str) -> Callable[[int, int], None]:
    """``profile_file``'s progress callback: rows per pass, with a percentage once known."""
    total = _known_rows(path)
    first_pass = 0

    def report(number: int, rows: int) -> None:
        nonlocal first_pass
        if number == 1:
            first_pass = rows
        known = total if number == 1 else (total or first_pass)  # a CSV's rows, after pass 1
        progress.rows(f"pass {number}/2 over {path}", rows, known)

    return report


def run_baseline(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "create":
        progress = Progress(quiet=args.quiet)
        profile = profile_file(
            args.data,
            args.model,
            args.version,
            prediction=args.prediction,
            label=args.label,
            features=args.features,
            metrics=_metrics(args) or None,
            chunk_rows=args.chunk_rows,
            options=ProfileOptions(
                categorical=frozenset(args.categorical),
                probabilities=_parse_probabilities(args.probabilities),
            ),
            ignore=args.ignore,
            progress=_pass_progress(progress, args.data) if progress.enabled else None,
        )
        progress.end()
        if args.learn_thresholds is not None:
            profile = with_learned_thresholds(
                profile, _head(args.data, 200 * args.learn_thresholds), args.learn_thresholds
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
            if args.json:
                print(json.dumps([b.model_dump() for b in rows], indent=2))
                return 0
            print(
                f"{'MODEL':<24} {'VERSION':<20} {'CREATED (UTC)':<20} {'ROWS':>10} "
                f"{'FEATURES':>8}  FINGERPRINT"
            )
            for b in rows:
                print(
                    f"{b.model:<24} {b.version:<20} {_utc(b.created_ms):<20} {b.n_rows:>10} "
                    f"{b.features:>8}  {b.fingerprint[:12]}"
                )
            return 0
        shown = backend.show(args.model, args.version)
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    summary, profile = BaselineSummary(**shown["summary"]), shown["profile"]
    print(f"model        {summary.model}")
    print(f"version      {summary.version}")
    print(f"created      {_utc(summary.created_ms)} UTC")
    print(f"rows         {summary.n_rows}")
    print(f"fingerprint  {summary.fingerprint}")
    print(f"prediction   {profile.get('prediction') is not None}")
    print(f"label        {profile.get('label') is not None}")
    print(f"features     {summary.features}: {', '.join(sorted(profile.get('features', {})))}")
    print("(--json for the full profile)")
    return 0


def _utc(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` in UTC.

    >>> _utc(1764500000000)
    '2025-11-30 10:53:20'
    """
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    """``driftd report MODEL --out FILE``: the model's HTML report, through a daemon or not."""
    progress = Progress(quiet=args.quiet)
    with _backend(settings, args.api) as backend:
        _say(f"rendering the report of {args.model}")
        try:
            page = backend.report(args.model, args.from_, args.to, progress)
        finally:
            progress.end()
    if args.out == "-":
        sys.stdout.write(page)
        return 0
    progress.step(f"writing {args.out}")
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError as exc:
        raise ConfigError([("--out", args.out, f"cannot write it ({exc.strerror})")]) from None
    finally:
        progress.end()
    _say(f"wrote {args.out} ({len(page.encode())} bytes); open it in a browser")
    return 0
