"""``driftd demo``: the main job end to end on embedded defaults.

It makes a credit-risk-like training set (numeric and categorical features),
starts the daemon in-process on a fresh data directory (chDB + SQLite),
creates the baseline through the daemon's API (as ``driftd baseline create``
would), streams predictions over HTTP — or through Kafka with ``--kafka`` —
with a drift injected halfway (``income`` shifts up, ``country`` moves towards
one market), and prints PSI per window. It exits non-zero when the drifted
features do not rise past the alert level or the stable ones do not stay low,
so it doubles as a smoke test.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.detectors import profile_file

__all__ = ["make_data", "run_demo"]

MODEL = "credit-risk"
VERSION = "2026-11-01"
PSI_ALERT = 0.25
STABLE_MAX = 0.1
DRIFTED = ("income", "country")
COUNTRIES = ["DE", "FR", "ES", "IT", "NL", "PL"]
COUNTRY_P = [0.30, 0.22, 0.16, 0.14, 0.10, 0.08]
DRIFTED_COUNTRY_P = [0.12, 0.12, 0.50, 0.10, 0.08, 0.08]


def make_data(n: int, rng: np.random.Generator, *, drifted: bool = False) -> pd.DataFrame:
    """Applicants with a model score; ``drifted`` shifts income and the country mix."""
    income = rng.lognormal(mean=10.8, sigma=0.45, size=n) * (1.6 if drifted else 1.0)
    age = np.clip(rng.normal(41, 12, n), 18, 90).round()
    debt_ratio = rng.beta(2, 5, n)
    accounts = rng.poisson(3, n).astype(float)
    tenure = rng.exponential(4.0, n)
    country = rng.choice(COUNTRIES, size=n, p=DRIFTED_COUNTRY_P if drifted else COUNTRY_P)
    channel = rng.choice(["web", "app", "branch"], size=n, p=[0.5, 0.35, 0.15])
    has_card = rng.random(n) < 0.6
    logit = -1.0 + 2.5 * debt_ratio - 0.4 * np.log(income / 50_000) + 0.02 * (45 - age) / 10
    score = 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "income": income.round(2),
            "age": age,
            "debt_ratio": debt_ratio.round(4),
            "num_accounts": accounts,
            "tenure_years": tenure.round(2),
            "country": country,
            "channel": channel,
            "has_card": has_card,
            "score": score.round(4),
            "default": (rng.random(n) < score).astype(int),
        }
    )


def _events(frame: pd.DataFrame, offset: int) -> list[dict[str, Any]]:
    base_ms = int(time.time() * 1000) - len(frame) * 100
    events = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        events.append(
            {
                "event_id": f"demo-{offset + i}",
                "model": MODEL,
                "model_version": VERSION,
                "timestamp": base_ms + (offset + i) * 100,
                "request_id": f"r-{offset + i}",
                "features": {k: row[k] for k in frame.columns if k not in ("score", "default")},
                "prediction": row["score"],
                "latency_ms": 8.0 + (i % 7),
                "password": "never-stored",  # scrubbed by the default sensitive list
            }
        )
    return events


def _send_http(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 250):
        r = client.post("/v1/events/predictions", json=events[start : start + 250])
        r.raise_for_status()
        body = r.json()
        if body["rejected"]:
            raise RuntimeError(f"events rejected: {body['rejected'][:3]}")


def _send_kafka(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=[bootstrap], linger_ms=10, acks="all")
    for event in events:
        producer.send(topic, key=MODEL.encode(), value=orjson.dumps(event))
    producer.flush()
    producer.close()


def _table(points: list[dict[str, Any]]) -> tuple[pd.DataFrame, str]:
    frame = pd.DataFrame(points)
    table = frame.pivot_table(index="window_id", columns="feature", values="value")
    cols = [c for c in table.columns if c != "score"] + ["score"]  # the prediction last
    table = table[[c for c in cols if c in table.columns]]
    head = "window " + " ".join(f"{c:>12}" for c in table.columns)
    lines = [head]
    for wid, row in table.iterrows():
        cells = " ".join(
            f"{v:>11.3f}{'*' if v > PSI_ALERT else ' '}" for v in row.to_numpy(dtype=float)
        )
        lines.append(f"{int(str(wid)):>6} {cells}")
    return table, "\n".join(lines)


def run_demo(
    *, kafka: str | None = None, events: int = 6_000, window: int = 500, root: str | None = None
) -> int:
    """Run the demo; 0 when drift shows where it was injected and nowhere else."""
    if events < 4 * window:
        print("driftd demo: --events must be at least 4 windows", file=sys.stderr)
        return 2
    workdir = Path(root) if root else Path(tempfile.mkdtemp(prefix="driftd-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    train = workdir / "train.parquet"
    make_data(20_000, rng).to_parquet(train, index=False)
    print(f"driftd demo — data in {workdir}")
    print(f"1. training set: 20,000 rows x 8 features -> {train.name}")

    overrides: dict[str, Any] = {
        "storage": {
            "clickhouse_url": f"chdb://{workdir / 'clickhouse'}",
            "control_url": f"sqlite:///{workdir / 'control.db'}",
        },
        "api": {"port": 0},
        "window": {"size": window},
        "collector": {"batch_max_wait_ms": 50},
    }
    if kafka:
        overrides["kafka"] = {
            "enabled": True,
            "bootstrap_servers": [kafka],
            "group_id": f"driftd-demo-{int(time.time())}",
            "ensure_topics": True,
            "max_poll_interval_ms": 5000,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
        }
    settings = load_settings(None, **overrides)
    daemon = Daemon(settings, "all")
    daemon.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=60) as client:
            profile = profile_file(train, MODEL, VERSION, prediction="score", label="default")
            r = client.post(f"/v1/models/{MODEL}/baselines", json={"profile": profile.to_dict()})
            r.raise_for_status()
            print(
                f"2. baseline {MODEL} {VERSION} created through the API "
                f"(fingerprint {r.json()['fingerprint'][:12]})"
            )
            half = events // 2
            live = pd.concat(
                [make_data(half, rng), make_data(events - half, rng, drifted=True)],
                ignore_index=True,
            )
            batch = _events(live, 0)
            how = f"Kafka at {kafka}" if kafka else "HTTP"
            print(f"3. streaming {events:,} predictions through {how}; drift injected at {half:,}")
            started = time.perf_counter()
            if kafka:
                _send_kafka(kafka, settings.kafka.predictions_topic, batch)
            else:
                _send_http(client, batch)
            expected = events // window
            points: list[dict[str, Any]] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                points = client.get(
                    f"/v1/models/{MODEL}/drift", params={"from": 0, "metric": "psi"}
                ).json()
                if len({p["window_id"] for p in points}) >= expected:
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
            print(
                f"4. {len({p['window_id'] for p in points})} windows of {window} judged in "
                f"{elapsed:.1f}s; PSI per window (* = above {PSI_ALERT}):\n"
            )
            table, text = _table(points)
            print(text)
    finally:
        daemon.stop()
    return _verdict(table, events // 2 // window)


def _verdict(table: pd.DataFrame, first_drifted: int) -> int:
    before = table[table.index < first_drifted]
    after = table[table.index > first_drifted]  # the window straddling the change is mixed
    stable = [c for c in table.columns if c not in DRIFTED and c != "score"]
    rose = all((after[f] > PSI_ALERT).all() for f in DRIFTED)
    calm_before = bool((before.to_numpy() < STABLE_MAX).all())
    calm_stable = bool((after[stable] < STABLE_MAX).all().all())
    print()
    print(
        f"drifted features {', '.join(DRIFTED)} above {PSI_ALERT} after the change: "
        f"{'yes' if rose else 'NO'}"
    )
    print(
        f"every feature below {STABLE_MAX} before it, stable ones after it: "
        f"{'yes' if calm_before and calm_stable else 'NO'}"
    )
    return 0 if rose and calm_before and calm_stable else 1
