"""The Grafana dashboards in deploy/grafana/dashboards, checked against what they query.

Statically: every panel, variable and annotation uses a provisioned data
source, and docker-compose mounts the dashboards with their provider. Live,
against a daemon fed with drift, latency and outcomes (with alerts firing):
every PromQL metric is one ``/metrics`` declares; every API path and parameter
(Infinity) is in the OpenAPI document and answers data; every ClickHouse
panel's SQL, with its Grafana macros and variables expanded as the ClickHouse
plugin expands them (:func:`clickhouse_sql`), runs on the daemon's own chDB
store and returns rows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from driftd.daemon import Daemon
from tests.daemons import running_daemon, upload_baseline

MODEL = "scored"
WINDOW = 200

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
    out += [dict(a["target"], datasource=a["datasource"]) for a in board["annotations"]["list"]]
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
    for panel in board["panels"] + board["annotations"]["list"]:
        assert panel["datasource"]["uid"] in sources, panel.get("title", panel.get("name"))
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


@pytest.fixture
def observed(chdb_url: str, database: str, tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose model closed two windows of shifted data with latency and outcomes.

    And one dead letter. Waits until the drift is judged, an alert fires and performance
    is computed.
    """
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 2_000), "score": rng.random(2_000)})
    window = {"size": WINDOW, "min_size": WINDOW}
    performance = {"window_s": 3600, "recompute_interval_s": 0.2, "min_labelled": 50}
    with running_daemon(
        chdb_url, database, tmp_path, window=window, performance=performance
    ) as daemon:
        upload_baseline(daemon, frame, MODEL, "v1", "score")
        n = 2 * WINDOW
        shifted, scores, latency = rng.normal(2, 1, n), rng.random(n), rng.gamma(2, 10, n)
        events = [{"model": MODEL, "request_id": f"r{i}", "features": {"x": float(shifted[i])},
                   "prediction": float(scores[i]), "latency_ms": float(latency[i])}
                  for i in range(n)]  # fmt: skip
        outcomes = [{"model": MODEL, "request_id": f"r{i}", "outcome": float(y)}
                    for i, y in enumerate(rng.random(n))]  # fmt: skip
        url = f"http://127.0.0.1:{daemon.port}"
        assert httpx.post(f"{url}/v1/events/predictions", json=events, timeout=60).is_success
        assert httpx.post(f"{url}/v1/events/outcomes", json=outcomes, timeout=60).is_success
        stray = {"model": "unknown", "features": {"x": 1.0}, "prediction": 0.5}  # a dead letter
        assert httpx.post(f"{url}/v1/events/predictions", json=stray).json()["rejected_total"] == 1
        ready = {
            "drift series": lambda: "driftd_drift_value{" in httpx.get(f"{url}/metrics").text,
            "firing alert": lambda: httpx.get(f"{url}/v1/alerts",
                                              params={"model": MODEL, "state": "firing"}).json(),
            "performance": lambda: httpx.get(f"{url}/v1/models/{MODEL}/performance",
                                             params={"from": 0}).json(),
        }  # fmt: skip
        deadline = time.monotonic() + 120
        for what, done in ready.items():
            while not done():
                assert time.monotonic() < deadline, f"no {what} after 120 s"
                time.sleep(0.2)
        yield daemon


def substitute(text: str) -> str:
    """Grafana's variables as a live query would have them."""
    now = int(time.time() * 1000)
    values = {"${model}": MODEL, "$model": MODEL, "${feature}": "x", "$feature": "x",
              "${__from}": "0", "${__to}": str(now + 1)}  # fmt: skip
    for name, value in values.items():
        text = text.replace(name, value)
    return text


TABLES = ("predictions", "prediction_features", "outcomes", "outcomes_latest", "baselines",
          "drift_metrics", "drift_results", "dead_letters")  # fmt: skip


def clickhouse_sql(sql: str, database: str, from_ms: int, to_ms: int, interval_ms: int) -> str:
    """A panel's SQL as Grafana's ClickHouse plugin (v4) sends it, for ``database``.

    Variables first (single values are interpolated raw, so the SQL quotes
    them), then the plugin's macros:

    * ``$__timeFilter_ms(c)``: ``c >= fromUnixTimestamp64Milli(FROM) AND c <= fromUnixTimestamp64Milli(TO)``
    * ``$__timeFilter(c)``: ``c >= toDateTime(FROM_S) AND c <= toDateTime(TO_S)``
    * ``$__timeInterval_ms(c)``: ``toStartOfInterval(toDateTime64(c, 3), INTERVAL I millisecond)``
    * ``$__timeInterval(c)``: ``toStartOfInterval(toDateTime(c), INTERVAL I_S second)``
    * ``$__fromTime`` / ``$__toTime``: ``toDateTime(FROM_S)`` / ``toDateTime(TO_S)``

    Unqualified tables resolve to the data source's ``defaultDatabase``
    (``driftd`` in provisioning); here they are qualified with the test's database.
    """  # noqa: E501
    text = substitute(sql)
    macros = {
        r"\$__timeFilter_ms\(([^)]+)\)": lambda c: (
            f"{c} >= fromUnixTimestamp64Milli({from_ms}) "
            f"AND {c} <= fromUnixTimestamp64Milli({to_ms})"
        ),
        r"\$__timeFilter\(([^)]+)\)": lambda c: (
            f"{c} >= toDateTime({from_ms // 1000}) AND {c} <= toDateTime({to_ms // 1000})"
        ),
        r"\$__timeInterval_ms\(([^)]+)\)": lambda c: (
            f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval_ms} millisecond)"
        ),
        r"\$__timeInterval\(([^)]+)\)": lambda c: (
            f"toStartOfInterval(toDateTime({c}), INTERVAL {max(1, interval_ms // 1000)} second)"
        ),
    }
    for pattern, expand in macros.items():
        text = re.sub(pattern, lambda m, f=expand: f(m.group(1).strip()), text)
    text = text.replace("$__fromTime", f"toDateTime({from_ms // 1000})")
    text = text.replace("$__toTime", f"toDateTime({to_ms // 1000})")
    assert "$" not in text, f"a macro or variable is left: {text}"
    tables = "|".join(TABLES)
    return re.sub(rf"\b(FROM|JOIN)\s+({tables})\b", rf"\1 {database}.\2", text)


def select(item: Any, selector: str) -> Any:
    """An Infinity column selector (``a.b``) applied to one row."""
    for key in selector.split("."):
        assert isinstance(item, dict) and key in item, (selector, item)
        item = item[key]
    return item


def test_queries_exist_and_answer_against_a_live_daemon(observed: Daemon, database: str) -> None:
    url = f"http://127.0.0.1:{observed.port}"
    exposition = httpx.get(f"{url}/metrics").text
    declared = set(re.findall(r"^# TYPE (\S+) (\S+)", exposition, re.MULTILINE))
    names = {name for name, _ in declared}
    names |= {f"{n}{s}" for n, kind in declared if kind == "histogram"
              for s in ("_bucket", "_sum", "_count")}  # fmt: skip
    openapi = httpx.get(f"{url}/openapi.json").json()
    routes = {re.sub(r"\{[^}]+\}", "{}", path): item for path, item in openapi["paths"].items()}
    store = observed.services.store if observed.services else None
    assert store is not None
    now = int(time.time() * 1000)
    answered = {"prometheus": 0, "infinity": 0, "clickhouse": 0}
    for path in DASHBOARDS:
        for query in queries(dashboard(path)):
            kind = query["datasource"]["type"]
            if kind == "prometheus":
                used = set(METRIC.findall(query["expr"]))
                assert used and used <= names, (path.name, used - names)
                answered["prometheus"] += 1
                continue
            if kind == "grafana-clickhouse-datasource":
                sql = clickhouse_sql(query["rawSql"], database, now - 3_600_000, now + 1, 60_000)
                with store._call("a dashboard query") as client:
                    result = client.query(sql)
                assert result.result_rows, (path.name, sql)  # data, not an empty answer
                if query["queryType"] == "timeseries":
                    assert result.column_names[0] == "time", (path.name, result.column_names)
                rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
                if "severity" in result.column_names:  # the heatmap: x drifted, critically
                    assert {r["severity"] for r in rows if r["feature"] == "x"} == {3}, rows
                if "baseline" in result.column_names:  # the distribution: two sets of shares
                    assert sum(r["baseline"] for r in rows) == pytest.approx(1)
                    assert sum(r["now"] for r in rows) == pytest.approx(1)
                    assert rows[-1]["now"] > 2 * rows[-1]["baseline"]  # shifted up by 2 sd
                answered["clickhouse"] += 1
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
                select(body[0], column["selector"])
            answered["infinity"] += 1
    assert answered["infinity"] >= 9 and answered["clickhouse"] == 4, answered
    assert answered["prometheus"] >= 10, answered


def test_the_model_dashboard_draws_what_the_issue_asks() -> None:
    """Heatmap, distribution, data quality, latency from ClickHouse; performance; alerts."""
    board = dashboard(GRAFANA / "dashboards" / "model.json")
    sql = {p["title"]: p["targets"][0]["rawSql"] for p in board["panels"]
           if p["datasource"]["type"] == "grafana-clickhouse-datasource"}  # fmt: skip
    assert any("FROM drift_results" in q and "severity" in q for q in sql.values()), sql
    assert any("FROM baselines" in q and "FROM prediction_features" in q for q in sql.values()), sql
    assert any("missing_rate" in q and "out_of_range" in q for q in sql.values()), sql
    assert any("quantile(0.99)(latency_ms)" in q for q in sql.values()), sql
    urls = [t.get("url") for p in board["panels"] for t in p["targets"]]
    assert "/v1/models/${model}/performance" in urls
    (alerts,) = board["annotations"]["list"]
    assert alerts["target"]["url"] == "/v1/alerts" and alerts["enable"] is True
