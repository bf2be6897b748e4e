"""The alerting section: defaults, durations, rules and targets validated with key and fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftd.config import Settings, load_settings
from driftd.config.alerting import DEFAULT_RULES, AlertingSettings, AlertRule, parse_duration_ms
from driftd.errors import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_defaults_alert_sensibly_with_no_rules_written() -> None:
    s = Settings().alerting
    assert (s.group_wait, s.group_interval, s.repeat_interval) == (30_000, 300_000, 14_400_000)
    assert s.effective_rules == DEFAULT_RULES
    (rule,) = s.effective_rules
    assert rule.matches("any-model", "ks", "any-feature")
    assert [rule.severity_for(0.0, v) for v in ("ok", "info", "warning", "critical")] == [
        "ok",
        "ok",
        "warning",
        "critical",
    ]
    assert s.allow_private_targets is False


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30s", 30_000),
        ("5m", 300_000),
        ("4h", 14_400_000),
        ("1h30m", 5_400_000),
        (90, 90_000),
        ("250ms", 250),
    ],
)
def test_durations(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["soon", "", "-5s", True, -1, "5 minutes"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


def test_rule_thresholds_pick_the_highest_severity_reached() -> None:
    rule = AlertRule(
        name="R", thresholds={"info": 0.05, "warning": 0.1, "critical": 0.25}, min_severity="info"
    )
    assert [rule.severity_for(v) for v in (0.01, 0.05, 0.2, 0.25, 9.0)] == [
        "ok",
        "info",
        "warning",
        "critical",
        "critical",
    ]
    only_critical = AlertRule(
        name="R", thresholds={"warning": 0.1, "critical": 0.25}, min_severity="critical"
    )
    assert only_critical.severity_for(0.2) == "ok"


def _check_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "driftd.yaml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "driftd.cli", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stdout  # configuration
    return done.stderr


def test_check_config_names_the_key_and_the_fix(tmp_path: Path) -> None:
    err = _check_config(
        tmp_path,
        """
alerting:
  rules:
    - name: Psi
      thresholds: {warning: 0.3, critical: 0.2}
""",
    )
    assert "alerting.rules.0.thresholds" in err and "must grow from info to warning" in err
    err = _check_config(
        tmp_path,
        f"""
alerting:
  webhooks:
    - {{name: r, url: "http://10.1.2.3/hook", secret: {SECRET}}}
""",
    )
    assert "alerting.webhooks.0.url" in err and "a private address" in err
    assert "alerting.allowed_hosts" in err
    err = _check_config(tmp_path, "alerting:\n  group_wait: soon\n")
    assert "alerting.group_wait='soon'" in err and "use 30s, 5m" in err


@pytest.mark.parametrize(
    ("alerting", "key", "fix"),
    [
        (
            {"webhooks": [{"name": "r", "url": "https://ci.example.com", "secret": "hunter2"}]},
            "alerting.webhooks.0.secret",
            "whsec_",
        ),
        (
            {
                "webhooks": [
                    {"name": "r", "url": "https://ci.example.com", "secret": "whsec_" + "QUJD"}
                ]
            },
            "alerting.webhooks.0.secret",
            "24 to 64 bytes",
        ),
        ({"routes": [{"name": "x"}]}, "alerting.routes.0.urls", "Apprise URLs"),
        ({"routes": [{"name": "x", "tags": ["t"]}]}, "alerting.apprise_config", "config file"),
        ({"rules": [{"name": "A"}, {"name": "A"}]}, "alerting.rules", "unique"),
        (
            {"rules": [{"name": "A", "labels": {"severity": "x"}}]},
            "alerting.rules.0.labels",
            "set by driftd",
        ),
        (
            {"alertmanager": {"url": "http://127.0.0.1:9093"}},
            "alerting.alertmanager.url",
            "loopback",
        ),
        (
            {"alertmanager": {"url": "http://169.254.169.254"}, "allow_private_targets": True},
            "alerting.alertmanager.url",
            "metadata",
        ),
        (
            {"routes": [{"name": "x", "urls": ["json://localhost:8080/"]}]},
            "alerting.routes.0.urls",
            "loopback",
        ),
    ],
)
def test_invalid_alerting_settings(alerting: dict[str, object], key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, alerting=alerting)
    (problem,) = caught.value.problems
    assert problem[0] == key and fix in problem[2], problem
    assert "hunter2" not in str(caught.value)


def test_private_targets_allowed_by_name_or_switch() -> None:
    hook = {"name": "r", "url": "http://alertmanager:9093", "secret": SECRET}
    AlertingSettings(
        webhooks=[hook], alertmanager={"url": "http://127.0.0.1:9093"}, allowed_hosts=["127.0.0.1"]
    )
    AlertingSettings(webhooks=[{**hook, "url": "http://10.0.0.1/"}], allow_private_targets=True)


def test_unknown_keys_inside_rules_get_a_suggestion(tmp_path: Path) -> None:
    err = _check_config(tmp_path, "alerting:\n  rules:\n    - {name: Psi, treshold: 1}\n")
    assert "alerting.rules.0.treshold=1: unknown key; did you mean 'thresholds'?" in err
    assert "(env DRIFTD_ALERTING__RULES, JSON)" in err
