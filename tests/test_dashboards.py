"""The Grafana dashboards in deploy/grafana/dashboards, checked against what they query.

Statically: every panel and variable uses a provisioned data source, and
docker-compose mounts the dashboards with their provider. Live, against a
daemon fed with drift: every PromQL metric is one ``/metrics`` declares, every
API path and parameter is in the OpenAPI document, and every API query answers
data.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from driftd.daemon import Daemon
from tests.test_metrics_scrape import MODEL, drifting

__all__ = ["drifting"]  # the live daemon fixture

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
METRIC = re.compile(r"\b((?:driftd|process|python)_[a-z0-9_]+)\b")


def dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def queries(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every query of a dashboard: panel targets and variable queries, with their source."""
    out = [dict(t, datasource=t.get("datasource", p["datasource"]))
           for p in board["panels"] for t in p["targets"]]  # fmt: skip
    out += [dict(v["query"], datasource=v["datasource"]) for v in board["templating"]["list"]]
    return out


def provisioned() -> dict[str, str]:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/driftd.yaml").read_text())
    return {s["uid"]: s["type"] for s in sources["datasources"]}


def test_the_three_dashboards_exist_with_unique_uids() -> None:
    titles = {dashboard(p)["uid"]: dashboard(p)["title"] for p in DASHBOARDS}
    assert set(titles) == {"driftd-fleet", "driftd-model", "driftd-pipeline"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_use_provisioned_data_sources(path: Path) -> None:
    sources = provisioned()
    board = dashboard(path)
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] in sources, panel["title"]
    for query in queries(board):
        source = query["datasource"]
        assert sources.get(source["uid"]) == source["type"], query


def test_compose_mounts_the_dashboards_and_their_provider() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/driftd.yaml").read_text())
    (entry,) = provider["providers"]
    assert f"./deploy/grafana/dashboards:{entry['options']['path']}:ro" in volumes
    assert "./deploy/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro" in (
        volumes
    )


def substitute(text: str) -> str:
    """Grafana's variables as a live query would have them."""
    now = int(time.time() * 1000)
    values = {"${model}": MODEL, "$model": MODEL, "${feature}": "x", "$feature": "x",
              "${__from}": "0", "${__to}": str(now + 1)}  # fmt: skip
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def test_queries_exist_and_answer_against_a_live_daemon(drifting: Daemon) -> None:
    url = f"http://127.0.0.1:{drifting.port}"
    exposition = httpx.get(f"{url}/metrics").text
    declared = set(re.findall(r"^# TYPE (\S+) (\S+)", exposition, re.MULTILINE))
    names = {name for name, _ in declared}
    names |= {f"{n}{s}" for n, kind in declared if kind == "histogram"
              for s in ("_bucket", "_sum", "_count")}  # fmt: skip
    openapi = httpx.get(f"{url}/openapi.json").json()
    routes = {re.sub(r"\{[^}]+\}", "{}", path): item for path, item in openapi["paths"].items()}
    answered = 0
    for path in DASHBOARDS:
        for query in queries(dashboard(path)):
            if query["datasource"]["type"] == "prometheus":
                used = set(METRIC.findall(query["expr"]))
                assert used and used <= names, (path.name, used - names)
                continue
            template = re.sub(r"\$\{?[a-z_]+\}?", "{}", query["url"])
            assert template in routes, (path.name, query["url"])
            documented = {p["name"] for p in routes[template]["get"].get("parameters", [])}
            params = {p["key"]: substitute(p["value"]) for p in query["url_options"]["params"]}
            assert set(params) <= documented, (path.name, set(params) - documented)
            answer = httpx.get(url + substitute(query["url"]), params=params, timeout=30)
            assert answer.status_code == 200, (query["url"], answer.text)
            body = answer.json()
            if query.get("root_selector"):
                body = body[query["root_selector"]]
            assert body, (path.name, query["url"], params)  # data, not an empty answer
            for column in query["columns"]:
                assert column["selector"] in body[0], (query["url"], column)
            answered += 1
    assert answered >= 7
