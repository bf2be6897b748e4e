"""``driftd baseline create|list|show``: directly on storage and through a running daemon."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score, log_loss

from driftd.cli import EXIT_DATA, EXIT_USAGE, main
from driftd.config import load_settings
from driftd.daemon import Daemon


def training(path: Path, n: int = 5_000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(shift, 1, n), "k": rng.choice(["a", "b"], n),
                       "pred": rng.random(n), "y": rng.integers(0, 2, n)})  # fmt: skip
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return df


@pytest.fixture
def config(tmp_path: Path, chdb_url: str, database: str) -> Path:
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": chdb_url, "database": database,
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": 1},  # nothing listens there: the CLI opens storage itself
    }))  # fmt: skip
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "baseline", *args])


def test_create_from_csv_and_parquet_list_show_and_refuse_changes(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, parquet = tmp_path / "train.csv", tmp_path / "train.parquet"
    training(csv)
    training(parquet)
    args = ("--version", "v1", "--prediction", "pred", "--label", "y", "--chunk-rows", "1000",
            "--metric", "auc=0.9")  # fmt: skip
    assert run(config, "create", "churn", "--data", str(csv), *args) == 0
    assert "created: 5000 rows, 2 features" in capsys.readouterr().out
    # the same data as Parquet has the same fingerprint: an idempotent no-op
    assert run(config, "create", "churn", "--data", str(parquet), *args) == 0
    assert "already stored (identical data)" in capsys.readouterr().out

    other = tmp_path / "other.csv"
    training(other, shift=2.0)
    assert run(config, "create", "churn", "--data", str(other), *args) == EXIT_DATA
    err = capsys.readouterr().err
    assert "churn" in err and "v1" in err and "immutable" in err.lower()

    assert run(config, "list") == 0
    listing = capsys.readouterr().out
    assert "churn" in listing and "5000" in listing
    assert run(config, "show", "churn", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"]["label"] is True
    # computed from --label and --prediction; what --metric states wins
    metrics = shown["profile"]["metrics"]
    frame = pd.read_csv(csv)
    assert metrics["auc"] == 0.9
    assert metrics["accuracy"] == pytest.approx(accuracy_score(frame.y, frame.pred >= 0.5))
    assert metrics["log_loss"] == pytest.approx(log_loss(frame.y, frame.pred))
    assert sorted(shown["profile"]["features"]) == ["k", "x"]


def test_errors_are_named(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    training(csv)
    assert run(config, "create", "m", "--version", "v", "--data", str(csv),
               "--features", "x", "nope") == EXIT_DATA  # fmt: skip
    assert "nope" in capsys.readouterr().err
    assert (
        run(config, "create", "m", "--version", "v", "--data", str(tmp_path / "missing.csv"))
        == EXIT_DATA
    )
    assert run(config, "create", "m", "--version", "v", "--data", str(csv),
               "--metric", "auc") == EXIT_USAGE  # fmt: skip
    assert "NAME=NUMBER" in capsys.readouterr().err
    assert run(config, "show", "never") == EXIT_DATA


def test_goes_through_a_running_embedded_daemon(
    tmp_path: Path, chdb_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = {"clickhouse_url": chdb_url, "database": database,
               "control_url": f"sqlite:///{tmp_path / 'control.db'}"}  # fmt: skip
    daemon = Daemon(load_settings(None, storage=storage, api={"port": 0}), "all")
    daemon.start()
    try:
        config = tmp_path / "cli.yaml"
        # the CLI finds the daemon at the configured API address; its own storage settings
        # point elsewhere, so success proves the profile travelled over HTTP
        config.write_text(yaml.safe_dump({
            "storage": {"clickhouse_url": "chdb:///nonexistent/never-opened", "database": "x",
                        "control_url": f"sqlite:///{tmp_path / 'unused.db'}"},
            "api": {"port": daemon.port},
        }))  # fmt: skip
        data = tmp_path / "t.parquet"
        training(data)
        assert run(config, "create", "svc", "--version", "1", "--data", str(data)) == 0
        assert "created" in capsys.readouterr().out
        assert daemon.services is not None
        assert daemon.services.store.get_baseline("svc").n_rows == 5_000
        assert run(config, "list", "svc") == 0
        assert "svc" in capsys.readouterr().out
        assert run(config, "show", "svc", "--json") == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["summary"]["version"] == "1" and sorted(shown["profile"]["features"]) == [
            "k", "pred", "x", "y"
        ]  # fmt: skip
        assert run(config, "show", "svc", "--version", "nope") == EXIT_DATA
        assert not (tmp_path / "unused.db").exists()
    finally:
        daemon.stop()


def test_create_declares_columns_categorical_or_ignored(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "train.csv"
    df = training(csv)
    df.assign(code=np.random.default_rng(3).integers(1, 19, len(df))).to_csv(csv, index=False)
    args = ("--version", "v1", "--prediction", "pred", "--label", "y")
    assert run(config, "create", "codes", "--data", str(csv), *args,
               "--categorical", "code", "--ignore", "k") == 0  # fmt: skip
    assert "created: 5000 rows, 2 features" in capsys.readouterr().out
    assert run(config, "show", "codes", "--version", "v1", "--json") == 0
    profile = json.loads(capsys.readouterr().out)["profile"]
    assert sorted(profile["features"]) == ["code", "x"]
    code = profile["features"]["code"]
    assert code["kind"] == "categorical" and code["numeric_codes"] is True
    assert sorted(code["categories"], key=int) == [str(i) for i in range(1, 19)]
    assert run(config, "create", "bad", "--data", str(csv), *args, "--ignore", "nope") == EXIT_DATA
    df.assign(p0=1 - df["pred"]).to_csv(csv, index=False)
    assert run(config, "create", "probs", "--data", str(csv), "--version", "v1", "--label", "y",
               "--probabilities", "0=p0", "--probabilities", "1=pred") == 0  # fmt: skip
    capsys.readouterr()
    assert run(config, "show", "probs", "--version", "v1", "--json") == 0
    profile = json.loads(capsys.readouterr().out)["profile"]
    assert sorted(profile["probabilities"]) == ["0", "1"]
    assert profile["probabilities"]["1"]["name"] == "pred"
    assert profile["prediction"]["name"] == "predicted_class"
    assert sorted(profile["features"]) == ["k", "x"]
    assert (
        run(config, "create", "bad", "--data", str(csv), *args, "--probabilities", "p0")
        == EXIT_USAGE
    )
    assert run(config, "create", "learned", "--data", str(csv), *args,
               "--learn-thresholds", "500") == 0  # fmt: skip
    capsys.readouterr()
    assert run(config, "show", "learned", "--version", "v1", "--json") == 0
    learned = json.loads(capsys.readouterr().out)["profile"]["thresholds"]
    assert sorted(learned) == ["k", "p0", "pred", "x"]  # the features and the prediction
    assert learned["x"]["ks"][0] <= learned["x"]["ks"][1]
