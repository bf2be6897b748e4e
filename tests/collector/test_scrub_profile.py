"""Baselines go through the event rules: hashed categoricals compare like with like."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pandas as pd
import pytest

from driftd.api.app import create_app
from driftd.config import load_settings
from driftd.detectors import profile_dataframe
from driftd.services import build_services
from driftd.storage import InMemoryControlStore, InMemoryEventStore

KEY = "a-long-enough-hmac-key-0123456789"


def test_uploaded_baseline_is_scrubbed_like_live_events() -> None:
    settings = load_settings(None, scrub={"hmac_key": KEY, "fields": {"tier": "hash"}})
    services = build_services(settings, store=InMemoryEventStore(), control=InMemoryControlStore())
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "tier": rng.choice(["gold", "silver"], 200),
        "contact": rng.choice(["ann@example.com", "bob@example.com", "none"], 200),
        "password": rng.choice(["hunter2", "letmein"], 200),
        "x": rng.normal(size=200),
        "p": rng.random(200),
    })  # fmt: skip
    profile = profile_dataframe(frame, "m", "v1", prediction="p")

    async def upload() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/models/m/baselines", json={"profile": profile.to_dict()})

    try:
        assert asyncio.run(upload()).status_code == 201
        stored = services.store.get_baseline("m", "v1")
        data = json.loads(stored.profile_json)
        assert "password" not in data["features"]  # a sensitive key: dropped
        live = services.pipeline.scrubber.scrub(
            {"features": {"tier": "gold", "contact": "ann@example.com"}}
        )["features"]
        assert live["tier"] in data["features"]["tier"]["categories"]  # the same HMAC
        assert set(data["features"]["tier"]["categories"]) == {
            services.pipeline.scrubber.hash_value(v) for v in ("gold", "silver")
        }
        contact = data["features"]["contact"]
        assert live["contact"] == "[EMAIL]" and set(contact["categories"]) == {"[EMAIL]", "none"}
        share = dict(zip(contact["categories"], contact["proportions"], strict=False))
        assert share["[EMAIL]"] == pytest.approx((frame["contact"] != "none").mean())
        for secret in (b"gold", b"ann@example.com", b"hunter2"):
            assert secret not in stored.profile_json.encode()
    finally:
        services.close()
