"""SIGKILL while outcomes are being joined: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .kafka_helpers import (
    CollectorProcess,
    committed,
    create_topics,
    dumps,
    kafka_settings,
    produce,
    seed_in_subprocess,
    unique,
    wait_for,
)

MODEL = "labels"
N = 12_000
WINDOW_S = 1_000  # one prediction a second: 1,000 predictions a window
READER = Path(__file__).parent / "read_performance.py"


def _config(tmp: Path, tansu: str, names: dict[str, str], group: str) -> dict[str, Any]:
    return {
        "storage": {"clickhouse_url": f"chdb://{tmp / 'ch'}", "database": "driftd",
                    "control_url": f"sqlite:///{tmp / 'control.db'}"},
        "kafka": kafka_settings(tansu, names, group, max_poll_records=500),
        "api": {"port": 0},
        "performance": {"window_s": WINDOW_S, "recompute_interval_s": 0.3},
        "logging": {"level": "INFO"},
    }  # fmt: skip


def _events(t0: int) -> tuple[list[bytes], list[bytes], dict[int, float]]:
    """Predictions, their outcomes (some wrong then corrected, some repeated, shuffled),
    and the accuracy each window must end with."""
    rng = random.Random(5)
    predictions, outcomes = [], []
    right: dict[int, list[bool]] = {}
    for i in range(N):
        ts = t0 + i * 1000
        says = rng.random() < 0.5
        correct = rng.random() < 0.8
        truth = says if correct else not says
        right.setdefault(ts // (WINDOW_S * 1000), []).append(correct)
        predictions.append(dumps({
            "model": MODEL, "event_id": f"p{i}", "request_id": f"r{i}", "timestamp": ts,
            "features": {"x": float(i % 5)}, "prediction": "yes" if says else "no"}))  # fmt: skip
        label = "yes" if truth else "no"
        if rng.random() < 0.2:  # a wrong label first, its correction later
            wrong = "no" if truth else "yes"
            outcomes.append(dumps({"model": MODEL, "request_id": f"r{i}", "event_id": f"w{i}",
                                   "outcome": wrong, "timestamp": ts + 1}))  # fmt: skip
        outcome = {"model": MODEL, "request_id": f"r{i}", "event_id": f"o{i}",
                   "outcome": label, "timestamp": ts + 2}  # fmt: skip
        outcomes.append(dumps(outcome))
        if rng.random() < 0.2:
            outcomes.append(dumps(outcome))  # repeated
    rng.shuffle(outcomes)
    return predictions, outcomes, {w: sum(v) / len(v) for w, v in right.items()}


def _stored(config: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    storage = config["storage"]
    args = [sys.executable, str(READER), storage["clickhouse_url"], storage["database"], MODEL]
    out = subprocess.run(args, capture_output=True, check=True, timeout=120)
    result: dict[str, dict[str, list[float]]] = json.loads(out.stdout)
    return result


@pytest.mark.slow
def test_sigkill_mid_join_loses_and_double_counts_nothing(tansu: str, tmp_path: Path) -> None:
    names = {k: unique(f"t-{k}") for k in ("predictions", "outcomes", "deadletter")}
    create_topics(tansu, names.values(), 1)
    group = unique("g-join")
    config = _config(tmp_path, tansu, names, group)
    seed_in_subprocess(config, [MODEL])
    t0 = (int(time.time() * 1000) - 3 * 86_400_000) // (WINDOW_S * 1000) * (WINDOW_S * 1000)
    predictions, outcomes, accuracy = _events(t0)
    sent_p = produce(tansu, names["predictions"], [(MODEL.encode(), v) for v in predictions])
    sent_o = produce(tansu, names["outcomes"], [(MODEL.encode(), v) for v in outcomes])

    collector = CollectorProcess(tmp_path, config)
    try:
        _kill_twice_then_finish(collector, tansu, group, names, sent_p, sent_o, len(outcomes))
    finally:
        if collector.proc is not None and collector.proc.poll() is None:
            collector.kill()
    windows = _stored(config)
    assert {int(w) for w in windows} == set(accuracy)
    for window, expected in accuracy.items():
        got = windows[str(window)]
        assert got["labelled_fraction"] == [1.0, 1000]
        assert got["accuracy"] == [expected, 1000]  # corrections won, repeats counted once


def _joined(windows: dict[str, dict[str, list[float]]], expected: int) -> bool:
    return len(windows) == expected and all(
        w.get("labelled_fraction", [0.0])[0] == 1.0 for w in windows.values()
    )


def _kill_twice_then_finish(
    collector: CollectorProcess,
    tansu: str,
    group: str,
    names: dict[str, str],
    sent_p: dict[int, int],
    sent_o: dict[int, int],
    n_outcomes: int,
) -> None:
    rnd = random.Random(3)
    for threshold in (n_outcomes // 4, n_outcomes // 2):
        collector.start()
        wait_for(
            lambda t=threshold: (
                sum(committed(tansu, group, names["outcomes"], sent_o).values()) >= t
            ),
            180,
            f"outcomes past {threshold}",
        )
        time.sleep(rnd.uniform(0.0, 0.3))  # inside a batch, or a recompute
        collector.kill()
    collector.start()
    wait_for(
        lambda: (
            committed(tansu, group, names["outcomes"], sent_o) == sent_o
            and committed(tansu, group, names["predictions"], sent_p) == sent_p
        ),
        300,
        "everything committed",
    )
    # the store opens in one process at a time: stop, look, and run again until the
    # recompute ticker has seen every label (a restart rescans since its checkpoint)
    windows: dict[str, dict[str, list[float]]] = {}
    for _ in range(20):
        assert collector.stop() == 0
        windows = _stored(collector.config)
        if _joined(windows, N // WINDOW_S):
            return
        started = collector.log.read_text(errors="replace").count("collector started")
        collector.start()
        wait_for(  # a SIGTERM before the daemon handles signals would kill it outright
            lambda n=started: (
                collector.log.read_text(errors="replace").count("collector started") > n
            ),
            180,
            "the collector running again",
        )
        time.sleep(3)
    unjoined = {w: v.get("labelled_fraction") for w, v in windows.items()}
    raise AssertionError(f"labels never all joined ({N // WINDOW_S} windows): {unjoined}")
