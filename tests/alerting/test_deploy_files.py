"""The Prometheus rules and Alertmanager config in deploy/ pass Prometheus's own checkers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "driftd.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "rules" / "driftd.rules.test.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is absent (Debian packages prometheus / prometheus-alertmanager)")
    return path


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_checks_the_rules() -> None:
    out = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS: 9 rules found" in out


def test_promtool_rule_unit_tests_pass() -> None:
    _run(_tool("promtool"), "test", "rules", str(RULE_TESTS))


def test_every_metric_the_rules_name_is_one_driftd_exports() -> None:
    """A rule on a metric driftd no longer exports passes promtool and never fires."""
    import re

    from driftd.metrics import Metrics

    exported = {
        sample.name for family in Metrics().registry.collect() for sample in family.samples
    } | {family.name for family in Metrics().registry.collect()}
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    named = {
        name
        for group in groups
        for rule in group["rules"]
        for name in re.findall(r"\b(driftd_[a-z_]+)", rule["expr"])
    }
    assert named, "the rules name no driftd metric"
    missing = named - exported - {n + "_total" for n in exported}
    assert not missing, f"rules name metrics driftd does not export: {sorted(missing)}"


def test_amtool_checks_the_alertmanager_config() -> None:
    out = _run(_tool("amtool"), "check-config", str(ALERTMANAGER))
    assert "1 inhibit rules" in out


def test_prometheus_loads_the_rules_and_sends_to_alertmanager() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/driftd.rules.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["prometheus"]["volumes"]
    assert f"./{RULES.relative_to(ROOT)}:/etc/prometheus/rules/driftd.rules.yml:ro" in mounts


def test_compose_runs_alertmanager_and_driftd_pushes_to_it() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    am = compose["services"]["alertmanager"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    assert (
        "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
        in (am["volumes"])
    )
    assert "alertmanager-data:/alertmanager" in am["volumes"]
    assert "alertmanager-data" in compose["volumes"]
    env = compose["x-driftd-env"]
    assert env["DRIFTD_ALERTING__ALERTMANAGER__URL"] == "http://alertmanager:9093"
    assert yaml.safe_load(env["DRIFTD_ALERTING__ALLOWED_HOSTS"]) == ["alertmanager"]


def test_promtool_finds_the_alerting_metrics_clean() -> None:
    from prometheus_client import generate_latest

    from driftd.metrics import Metrics

    m = Metrics()
    m.notifications.labels(route="pager", outcome="delivered").inc()
    m.webhook_deliveries.labels(webhook="retrain", outcome="retry").inc()
    m.alertmanager_pushes.labels(outcome="ok").inc()
    m.alerts_fired.labels(alertname="DriftDetected", severity="critical").inc()
    done = subprocess.run(
        [_tool("promtool"), "check", "metrics"],
        input=generate_latest(m.registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
