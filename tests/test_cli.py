"""The ``driftd`` command as an operator meets it: one line per failure, documented statuses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftd import __version__
from driftd.cli import EXIT_CONFIG, EXIT_DATA, EXIT_UNREACHABLE, EXIT_USAGE, main
from tests.test_cli_baseline import training

DRIFTD = str(Path(sys.executable).with_name("driftd"))


def one_line(err: str) -> str:
    """The single line a failure prints (the CLI's provenance lines aside)."""
    lines = [line for line in err.splitlines() if not line.startswith("driftd: directly on")]
    lines = [line for line in lines if not line.startswith("driftd: through the daemon")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"driftd {__version__}"


def test_usage_errors_are_one_line_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == EXIT_USAGE
    assert "--help" in one_line(capsys.readouterr().err)
    with pytest.raises(SystemExit) as exited:
        main(["baseline", "create", "m", "--version", "v", "--data", "t.csv", "--chunk-rows", "0"])
    assert exited.value.code == EXIT_USAGE
    line = one_line(capsys.readouterr().err)
    assert "--chunk-rows" in line and "at least 1" in line


def test_an_unreachable_daemon_is_status_4_naming_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["baseline", "list", "--api", "http://127.0.0.1:1"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert "through the daemon at http://127.0.0.1:1" in err  # says which daemon it used
    line = one_line(err)
    assert "cannot reach the daemon at http://127.0.0.1:1" in line and "driftd run" in line


def test_config_after_the_verb_and_json_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "driftd.yaml"
    config.write_text("window:\n  size: 500\n")
    # the order deploy/driftd.example.yaml shows works as well as the flag before the verb
    assert main(["check-config", "--config", str(config)]) == 0
    assert str(config) in capsys.readouterr().out
    assert main(["check-config", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "valid": True, "config": str(config), "problems": []
    }  # fmt: skip

    monkeypatch.setenv("DRIFTD_WINDOW_SIZE", "5")
    monkeypatch.setenv("DRIFTD_KAFK__ENABLED", "true")
    monkeypatch.setenv("DRIFTD_WINDOW__SIZE", "600")  # a real key stays quiet
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "DRIFTD_WINDOW_SIZE='5': unknown variable; did you mean DRIFTD_WINDOW__SIZE?" in err
    assert (
        "DRIFTD_KAFK__ENABLED='true': unknown variable; did you mean DRIFTD_KAFKA__ENABLED?" in err
    )
    assert "DRIFTD_WINDOW__SIZE=" not in err
    assert main(["check-config", "--config", str(config), "--json"]) == EXIT_CONFIG
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] is False
    assert [p["key"] for p in verdict["problems"]] == ["DRIFTD_KAFK__ENABLED", "DRIFTD_WINDOW_SIZE"]
    # with a bad setting too, every problem is named at once
    monkeypatch.setenv("DRIFTD_API__PORT", "x")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("=")[0] for line in lines] == [
        "driftd: invalid configuration: api.port",
        "driftd: invalid configuration: DRIFTD_KAFK__ENABLED",
        "driftd: invalid configuration: DRIFTD_WINDOW_SIZE",
    ]


def test_run_with_the_port_in_use_is_a_configuration_error(
    tmp_path: Path, chdb_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "driftd.yaml"
        config.write_text(yaml.safe_dump({
            "storage": {"clickhouse_url": chdb_url, "database": database,
                        "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
            "api": {"host": "127.0.0.1", "port": port},
        }))  # fmt: skip
        assert main(["run", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"driftd: invalid configuration: api.port=127.0.0.1:{port}: in use")
    assert "DRIFTD_API__PORT" in line


def test_listing_is_newest_first_with_the_profile_outline(
    tmp_path: Path, chdb_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": chdb_url, "database": database,
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": 1},
    }))  # fmt: skip
    csv = tmp_path / "t.csv"
    training(csv, n=500)
    base = ["--config", str(config), "baseline"]
    assert main([*base, "create", "m", "--version", "v1", "--data", str(csv),
                 "--prediction", "pred", "--label", "y"]) == 0  # fmt: skip
    assert main([*base, "create", "m", "--version", "v2", "--data", str(csv),
                 "--features", "x", "k", "pred"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "directly on storage chdb://" in err  # says which store it used
    assert main([*base, "list", "m", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["version"], b["features"], b["prediction"], b["label"]) for b in listed] == [
        ("v2", 3, False, False),
        ("v1", 2, True, True),
    ]
    assert main([*base, "list", "m"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["v2", "v1"]
    assert [row.split()[-2] for row in rows] == ["3", "2"]
    assert main([*base, "show", "m"]) == 0
    shown = capsys.readouterr().out
    assert "version      v2" in shown and "features     3: k, pred, x" in shown
    assert main([*base, "show", "m", "--version", "nope"]) == EXIT_DATA
    assert "no baseline for model 'm' version 'nope'" in one_line(capsys.readouterr().err)


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``driftd baseline show m | head -1``: no BrokenPipeError traceback, status 0."""
    config = tmp_path / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": f"chdb://{tmp_path / 'ch'}",
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": 1},
    }))  # fmt: skip
    csv = tmp_path / "t.csv"
    training(csv, n=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTD_")}
    env["DRIFTD_CONFIG"] = str(config)
    created = subprocess.run(
        [DRIFTD, "baseline", "create", "m", "--version", "v1", "--data", str(csv)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    # `true` exits at once, long before driftd has imported: every write meets a closed pipe
    for reader in ("head -c 1", "true"):
        piped = subprocess.run(
            f"'{DRIFTD}' baseline show m --json | {reader}; echo \" ${{PIPESTATUS[0]}}\"",
            shell=True, executable="/bin/bash", env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert piped.stdout.endswith(" 0\n"), piped
        assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
