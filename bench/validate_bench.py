"""Decode + validate cost per event, this tree against an older revision of ``events.py``.

The poison-input checks (lone surrogates, integers beyond float64, timestamp range)
run on the hot path; this measures what they cost on a contract-shaped event.

    .venv/bin/python bench/validate_bench.py                 # against f122355
    .venv/bin/python bench/validate_bench.py --against REV --events 50000 --repeat 7

Prints a markdown table (median microseconds per event over the repeats).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from driftd import events as current

EVENT: dict[str, Any] = {
    "event_id": "e-1", "model": "credit", "model_version": "v1",
    "timestamp": "2026-11-28T17:48:13.123Z", "request_id": "r-42",
    "features": {**{f"n{i}": i * 1.5 for i in range(14)},
                 **{f"c{i}": ["DE", "FR", "café"][i % 3] for i in range(5)}, "b": True},
    "prediction": 0.93, "segments": {"region": "eu"}, "latency_ms": 12.3,
}  # fmt: skip


def load_revision(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:src/driftd/events.py"], capture_output=True, check=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "events_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("events_at_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["events_at_rev"] = module
    spec.loader.exec_module(module)
    return module


def per_event_us(module: Any, raw: bytes, n: int) -> float:
    decode, parse = module.decode, module.parse_prediction
    start = time.perf_counter()
    for _ in range(n):
        parse(decode(raw), received_ms=1)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="f122355", help="git revision to compare with")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    older = load_revision(args.against)
    raw = orjson.dumps(EVENT)
    times: dict[str, list[float]] = {args.against: [], "this tree": []}
    for _ in range(args.repeat):  # interleaved, so background load hits both alike
        times[args.against].append(per_event_us(older, raw, args.events))
        times["this tree"].append(per_event_us(current, raw, args.events))
    print(f"| code | decode + validate, µs per event (median of {args.repeat}) |")
    print("| --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
