"""``limit`` and a cursor on the drift series and dead letters: every row once, none split."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.test_http_api import MODEL, api, events, frame, upload

__all__ = ["api"]  # the daemon fixture, shared with test_http_api


def pages(api: httpx.Client, path: str, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Follow the Link (rel=next) headers from the first page to the last."""
    out = []
    answer = api.get(path, params=params)
    while True:
        assert answer.status_code == 200, answer.text
        out.append(answer.json())
        link = answer.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in answer.headers
            return out
        url = link.removeprefix("<").split(">;")[0]
        assert link.endswith('rel="next"') and answer.headers["x-next-cursor"] in url
        answer = api.get(url)


def test_drift_pages_back_in_time_without_splitting_a_window(api: httpx.Client) -> None:
    upload(api, "v1", frame())
    assert api.post("/v1/events/predictions", json=events(frame(150, shift=1.5))).is_success
    path = f"/v1/models/{MODEL}/drift"
    everything = api.get(path, params={"from": 0, "to": 4_102_444_800_000})
    assert "link" not in everything.headers
    rows = everything.json()
    per_window = {w: sum(1 for p in rows if p["window_id"] == w) for w in (0, 1, 2)}
    assert set(per_window) == {0, 1, 2} and len(set(per_window.values())) == 1
    size = per_window[0]
    # a limit one short of two windows: each page holds one whole window
    paged = pages(api, path, {"from": 0, "to": 4_102_444_800_000, "limit": 2 * size - 1})
    assert [sorted({p["window_id"] for p in page}) for page in paged] == [[2], [1], [0]]
    flat = [p for page in reversed(paged) for p in page]
    key = lambda p: (p["window_id"], p["feature"], p["metric"], p["segment"])  # noqa: E731
    assert sorted(map(key, flat)) == sorted(map(key, rows))
    # fewer rows than one window: refused, never a page that drops rows
    small = api.get(path, params={"from": 0, "to": 4_102_444_800_000, "limit": size - 1})
    assert small.status_code == 400 and small.json()["error"] == "limit_too_small"
    bad = api.get(path, params={"cursor": "bm90IG91cnM"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_cursor"


def test_dead_letters_page_newest_first(api: httpx.Client) -> None:
    for i in range(5):  # one request each: five arrival times
        answer = api.post("/v1/events/predictions", json={"model": "nobody", "features": {"i": i},
                                                          "prediction": 1})  # fmt: skip
        assert answer.json()["rejected_total"] == 1
    everything = api.get("/v1/deadletters").json()
    assert len(everything) == 5
    times = [d["time"] for d in everything]
    # each request waits for its group commit (20 ms): five distinct arrival times
    assert len(set(times)) == 5 and times == sorted(times, reverse=True)
    paged = pages(api, "/v1/deadletters", {"limit": 2})
    assert [len(p) for p in paged] == [2, 2, 1]
    assert [d["payload"]["features"]["i"] for p in paged for d in p] == [4, 3, 2, 1, 0]
