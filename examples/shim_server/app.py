"""A FastAPI model server instrumented with the driftd shim.

A scikit-learn classifier is trained at start-up on generated credit data;
``POST /predict`` scores one applicant (or ``{"instances": [...]}``) and the
shim sends every prediction to driftd in the background. The instrumentation
is the three lines marked ``# driftd``. ``POST /outcome`` reports the ground
truth of an earlier request id (returned in the ``x-request-id`` header).

    DRIFTD_URL=http://127.0.0.1:8470 uvicorn examples.shim_server.app:app --port 8080
    curl -s -XPOST localhost:8080/predict -H 'content-type: application/json' \\
         -d '{"income": 52000, "age": 41, "debt_ratio": 0.3, "country": "DE"}' -i

With ``UPLOAD_BASELINE=1`` the server also profiles its training data and
uploads it as the model's baseline (that part uses full driftd; the shim
itself needs only httpx and orjson).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftd.shim import HttpTransport, PredictionLogger, PredictionMiddleware

MODEL = os.environ.get("MODEL_NAME", "credit-risk")
VERSION = os.environ.get("MODEL_VERSION", "v1")
NUMERIC = ["income", "age", "debt_ratio"]
CATEGORICAL = ["country"]


def training_data(n: int = 5_000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.lognormal(10.6, 0.4, n).round(0),
        "age": rng.integers(18, 80, n).astype(float),
        "debt_ratio": rng.beta(2, 5, n).round(3),
        "country": rng.choice(["DE", "FR", "ES", "IT"], n, p=[0.4, 0.3, 0.2, 0.1]),
    })  # fmt: skip
    risk = 2.5 * frame["debt_ratio"] - (frame["income"] / 60_000) + rng.normal(0, 0.3, n)
    frame["default"] = (risk > 0).astype(int)
    return frame


def train(frame: pd.DataFrame) -> Any:
    features = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC),
         ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)]
    )  # fmt: skip
    model = make_pipeline(features, LogisticRegression(max_iter=500))
    model.fit(frame[NUMERIC + CATEGORICAL], frame["default"])
    return model


def upload_baseline(url: str, frame: pd.DataFrame, model: Any) -> None:
    import httpx

    from driftd.detectors import profile_dataframe

    scored = frame[NUMERIC + CATEGORICAL].assign(score=model.predict_proba(frame)[:, 1])
    profile = profile_dataframe(scored, MODEL, VERSION, prediction="score")
    headers = {"authorization": f"Bearer {API_KEY}"} if API_KEY else {}
    answer = httpx.post(f"{url}/v1/models/{MODEL}/baselines", headers=headers,
                        json={"profile": profile.to_dict()}, timeout=60)  # fmt: skip
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"baseline upload failed: {answer.status_code} {answer.text}")


DRIFTD_URL = os.environ.get("DRIFTD_URL", "http://127.0.0.1:8470")
API_KEY = os.environ.get("DRIFTD_API_KEY") or None  # scopes ingest (events), admin (baseline)
frame = training_data()
classifier = train(frame)
transport = HttpTransport(DRIFTD_URL, api_key=API_KEY)
shim = PredictionLogger(MODEL, VERSION, transport=transport)  # driftd


@asynccontextmanager
async def lifespan(app: FastAPI) -> Any:
    if os.environ.get("UPLOAD_BASELINE") == "1":
        upload_baseline(DRIFTD_URL, frame, classifier)
    yield


app = FastAPI(title="credit-risk model server", lifespan=lifespan)
app.add_middleware(PredictionMiddleware, logger=shim, paths=["/predict"])  # driftd


@app.post("/predict")
async def predict(request: Request) -> dict[str, Any]:
    body = await request.json()
    rows = body.get("instances", [body])
    scores = classifier.predict_proba(pd.DataFrame(rows)[NUMERIC + CATEGORICAL])[:, 1]
    return {"predictions": [round(float(s), 6) for s in scores]}


@app.post("/outcome")
async def outcome(body: dict[str, Any]) -> dict[str, str]:
    shim.log_outcome(str(body["request_id"]), body["outcome"])  # driftd: ground truth, later
    return {"status": "queued"}


@app.get("/healthz")
async def healthz() -> dict[str, Any]:
    stats = shim.stats
    return {"status": "ok", "delivered": stats.delivered, "dropped": stats.dropped}
