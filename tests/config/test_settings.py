"""Settings: YAML + environment, secret files, and errors that name key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftd.cli import main
from driftd.config import load_settings
from driftd.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftd.yaml"
    path.write_text(text)
    return path


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(None)
    assert s.storage.embedded and s.storage.clickhouse_url.startswith("chdb://")
    assert not s.kafka.enabled and s.kafka.auto_offset_reset == "earliest"
    assert s.window.size == 1_000


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path, "kafka:\n  group_id: from-yaml\n  max_poll_records: 50\nwindow:\n  size: 200\n"
    )
    monkeypatch.setenv("DRIFTD_KAFKA__GROUP_ID", "from-env")
    monkeypatch.setenv("DRIFTD_KAFKA__BOOTSTRAP_SERVERS", "a:9092, b:9092")
    s = load_settings(path)
    assert s.kafka.group_id == "from-env"
    assert s.kafka.max_poll_records == 50 and s.window.size == 200
    assert s.kafka.bootstrap_servers == ["a:9092", "b:9092"]


def test_secret_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "hmac"
    secret.write_text("a-long-random-secret-value\n")
    monkeypatch.setenv("DRIFTD_SCRUB__HMAC_KEY_FILE", str(secret))
    s = load_settings(None, scrub={"fields": {"user_id": "hash"}})
    assert s.scrub.hmac_key is not None
    assert s.scrub.hmac_key.get_secret_value() == "a-long-random-secret-value"


def test_every_problem_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n  max_poll_records: -5\n  grup_id: x\nwindow:\n  size: 3\n"
        "scrub:\n  fields: {user_id: hash}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    keys = {key: (value, fix) for key, value, fix in info.value.problems}
    assert keys["kafka.max_poll_records"][0] == "-5"
    assert "did you mean 'group_id'" in keys["kafka.grup_id"][1]
    assert "DRIFTD_WINDOW__SIZE" in keys["window.size"][1]
    assert "DRIFTD_SCRUB__HMAC_KEY" in keys["scrub.hmac_key"][1]


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(None, environment="production", scrub={"hmac_key": "changeme"})
    load_settings(None, environment="development", scrub={"hmac_key": "changeme"})


def test_missing_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DRIFTD_SCRUB__HMAC_KEY_FILE", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="DRIFTD_SCRUB__HMAC_KEY_FILE"):
        load_settings(None)


def test_check_config_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "window:\n  size: 500\n")
    assert main(["--config", str(good), "check-config"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("window:\n  size: nope\n")
    assert main(["--config", str(bad), "check-config"]) == 3
    err = capsys.readouterr().err
    assert "window.size='nope'" in err and "valid integer" in err
    assert main(["--config", str(tmp_path / "missing.yaml"), "check-config"]) == 3


def test_per_model_window_settings_override_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "window:\n  size: 2000\n  persistence: 2\n"
        "models:\n  credit-risk:\n    window: {size: 5000, stream_features: [income]}\n",
    )
    s = load_settings(path)
    own, other = s.window_for("credit-risk"), s.window_for("anything-else")
    assert (own.size, own.persistence, own.stream_features) == (5_000, 2, ["income"])
    assert (other.size, other.persistence) == (2_000, 2)
    assert load_settings(None).window_for("m") == load_settings(None).window  # none written
    for override, said in (("{size: 50}", "min_size"), ("{tests: [nope]}", "nope")):
        bad = write(tmp_path, f"models:\n  m:\n    window: {override}\n")
        with pytest.raises(ConfigError) as info:
            load_settings(bad)
        assert [key for key, _, _ in info.value.problems] == ["models.m.window"]
        assert said in str(info.value.problems)


def test_performance_horizon_must_fit_in_raw_event_retention() -> None:
    settings = load_settings(None, performance={"horizon_days": 7, "window_s": 900})
    assert (settings.performance.horizon_days, settings.performance.window_s) == (7, 900)
    with pytest.raises(ConfigError, match="raw_ttl_days"):
        load_settings(None, performance={"horizon_days": 40}, storage={"raw_ttl_days": 30})
    with pytest.raises(ConfigError, match="critical_drop"):
        load_settings(None, performance={"warning_drop": 0.2, "critical_drop": 0.1})
