"""Progress on long CLI work: drawn on a terminal (a real pseudo-terminal), absent otherwise."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftd.cli import main
from driftd.progress import Progress

DRIFTD = str(Path(sys.executable).with_name("driftd"))


def write_training(path: Path, n: int = 30_000) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(0, 1, n), "pred": rng.random(n)})
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Embedded storage of its own: the command runs in a child process."""
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": f"chdb://{tmp_path / 'chdb'}",
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": 1},  # nothing listens there: the CLI opens storage itself
    }))  # fmt: skip
    return path


def on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``driftd ARGS`` with stderr on a pseudo-terminal: (status, stdout, terminal output)."""
    leader, follower = os.openpty()
    seen = bytearray()
    try:
        with subprocess.Popen(
            [DRIFTD, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower
        ) as child:
            os.close(follower)
            poller = select.poll()  # not select(): a long test run may hold fds past 1024
            poller.register(leader, select.POLLIN)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                ready = poller.poll(500)
                if ready:
                    try:
                        chunk = os.read(leader, 65536)
                    except OSError:  # the child closed its end (Linux: EIO)
                        break
                    if not chunk:
                        break
                    seen += chunk
                elif child.poll() is not None:
                    break
            out, _ = child.communicate(timeout=60)
            status = child.returncode
    finally:
        os.close(leader)
    return status, out.decode(), seen.decode(errors="replace")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_baseline_create_shows_progress_per_pass_on_a_terminal(
    config: Path, tmp_path: Path, suffix: str
) -> None:
    data = tmp_path / f"train{suffix}"
    write_training(data)
    status, out, terminal = on_a_terminal(
        "--config", str(config), "baseline", "create", "m", "--version", "v1",
        "--data", str(data), "--prediction", "pred", "--chunk-rows", "1000",
    )  # fmt: skip
    assert status == 0, terminal
    assert "created: 30000 rows" in out
    lines = terminal.split("\r")
    assert any("pass 1/2 over" in line and " rows" in line for line in lines), terminal
    second = [line for line in lines if "pass 2/2 over" in line]
    assert second, terminal
    # pass 2 knows the total (a Parquet footer states it from the start, a CSV after pass 1)
    assert all(" of 30,000 (" in line for line in second), second
    if suffix == ".parquet":
        assert all(" of 30,000 (" in line for line in lines if "pass 1/2" in line), terminal
    assert "\x1b[K" in terminal  # each redraw erases what a longer line left


def test_quiet_keeps_the_terminal_free_of_progress(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    write_training(data, 5_000)
    status, _, terminal = on_a_terminal(
        "--config", str(config), "baseline", "create", "m", "--version", "v1",
        "--data", str(data), "--chunk-rows", "1000", "--quiet",
    )  # fmt: skip
    assert status == 0, terminal
    assert "pass 1/2" not in terminal and "\r" not in terminal.replace("\r\n", "\n"), terminal


def test_report_generation_shows_its_steps_on_a_terminal(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    write_training(data, 2_000)
    status, _, terminal = on_a_terminal(
        "--config", str(config), "baseline", "create", "m", "--version", "v1",
        "--data", str(data), "--prediction", "pred",
    )  # fmt: skip
    assert status == 0, terminal
    out = tmp_path / "report.html"
    status, _, terminal = on_a_terminal("--config", str(config), "report", "m", "--out", str(out))
    assert status == 0, terminal
    steps = [line.strip() for line in terminal.replace("\x1b[K", "").split("\r") if "] " in line]
    assert any(s.startswith("driftd: [1/6] reading the baseline of m") for s in steps), terminal
    assert any("[5/6] rendering the page" in s for s in steps), terminal
    assert any(f"[6/6] writing {out}" in s for s in steps), terminal
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, chdb_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "driftd.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"clickhouse_url": chdb_url, "database": database,
                    "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        "api": {"port": 1},
    }))  # fmt: skip
    data = tmp_path / "train.parquet"
    write_training(data, 5_000)
    args = ["--config", str(config), "baseline", "create", "m", "--version", "v1", "--data",
            str(data), "--chunk-rows", "500"]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "report.html"
    assert main(["--config", str(config), "report", "m", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "pass 1/2" not in err and "[1/6]" not in err, err
    assert "driftd: wrote" in err  # the one-line outcome is still said


def test_updates_are_throttled() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [0.0]
    stream = Terminal()
    progress = Progress(stream, max_rate=5, clock=lambda: now[0])
    for i in range(100):  # 100 chunks within 1 s: 5 a second, plus the first and the last
        now[0] = i / 100
        progress.rows("pass 1/2", 1000 * (i + 1), 100_000)
    draws = stream.getvalue().count("\r")
    assert 3 <= draws <= 7, draws
    assert stream.getvalue().split("\r")[-1].startswith("driftd: pass 1/2: 100,000 rows of 100,000")
    progress.rows("pass 2/2", 1000, 100_000)  # a new pass is drawn at once
    assert stream.getvalue().count("\r") == draws + 1
    progress.end()
    assert stream.getvalue().endswith("\n")
    assert Progress(Terminal(), quiet=True).enabled is False
