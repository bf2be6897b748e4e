"""Where the collector's CPU goes, thread by thread: ``pipeline_bench.py``'s driftd runs
with the worker instrumented from outside (src/ untouched).

Usage (from the repository root)::

    .venv/bin/python bench/collector_threads.py --events 100000 --partitions 1 \\
        --repeat 6 --mix clean --client confluent [--base /tmp/base/src]

Every option but ``--base`` and ``--out`` goes to ``pipeline_bench.py``, which runs
and prints as usual. Each driftd run also prints one line (and appends it as JSON to
``--out``): CPU µs per event, between the first polled batch and the last commit, of

* every thread of the process (``/proc/self/task/*/schedstat``), by thread name,
  the collector thread as ``MAIN`` (librdkafka's ``rdk:*``, chDB's ``ThreadPool``,
  ``MergeMutate``...);
* the collector thread inside ``Pipeline.process``, the source's ``poll`` and
  ``commit``, what is left (``outside``: the loop, freeing a batch), and in cyclic
  garbage collections (``gc.callbacks``).

``--base SRC``: the driftd runs alternate between ``SRC`` (e.g. an export of another
commit, ``git archive <commit> src | tar -x -C /tmp/base``) and this tree, tagged
``base`` and ``new``: an interleaved A/B on the same topic and the same broker.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pipeline_bench as pb  # noqa: E402


def thread_ns() -> dict[str, tuple[str, int]]:
    """CPU nanoseconds per thread id, with the thread's name."""
    out: dict[str, tuple[str, int]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            ns = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
            name = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        out[tid] = (name, ns)
    return out


def worker(raw_spec: str) -> None:
    """A driftd worker of ``pipeline_bench.py``, measured per thread and per step."""
    spec: dict[str, Any] = json.loads(raw_spec)
    from driftd.collector.pipeline import Pipeline

    spent = {"process": 0.0, "poll": 0.0, "commit": 0.0, "gc": 0.0}
    marks: list[tuple[dict[str, tuple[str, int]], dict[str, float]]] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.thread_time()
        else:
            spent["gc"] += time.thread_time() - gc_started[0]

    gc.callbacks.append(on_gc)
    cpu_seconds = pb.cpu_seconds

    def marked_cpu_seconds() -> float:  # the bench reads it at the first batch and the end
        marks.append((thread_ns(), dict(spent)))
        return cpu_seconds()

    pb.cpu_seconds = marked_cpu_seconds

    def timed(fn: Any, key: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.thread_time() - started

        return wrapper

    Pipeline.process = timed(Pipeline.process, "process")  # type: ignore[method-assign]
    make_source = pb.make_source

    def timed_source(settings: Any, services: Any) -> Any:
        source = make_source(settings, services)
        source.poll, source.commit = timed(source.poll, "poll"), timed(source.commit, "commit")
        return source

    pb.make_source = timed_source
    pb.pin(int(spec.get("cpu", pb.MEASURE_CPU)))
    result = pb.worker_driftd(spec)
    (first, at_first), (last, at_last) = marks[0], marks[-1]
    main = str(threading.get_native_id())
    n = result["events"]
    threads: dict[str, float] = {}
    for tid, (name, ns) in last.items():
        key = "MAIN" if tid == main else name
        threads[key] = threads.get(key, 0.0) + (ns - first.get(tid, (name, 0))[1]) / 1e3 / n
    steps = {k: (at_last[k] - at_first[k]) * 1e6 / n for k in spent}
    steps["outside"] = threads["MAIN"] - steps["process"] - steps["poll"] - steps["commit"]
    line = {
        "tag": os.environ.get("COLLECTOR_THREADS_TAG", ""),
        "cpu_us_per_event": result["cpu_seconds"] * 1e6 / n,
        "collector_thread": {k: round(v, 3) for k, v in steps.items()},
        "threads": {
            k: round(v, 3) for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.001
        },
    }
    with open(os.environ["COLLECTOR_THREADS_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")
    sys.stdout.write("\n" + json.dumps(result) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=False)
    parser.add_argument("--base", help="src/ of the tree to alternate with this one")
    parser.add_argument("--out", default="collector_threads.jsonl", help="JSON lines, appended")
    args, rest = parser.parse_known_args()
    out = str(Path(args.out).resolve())
    runs = [0]
    trees = [("base", args.base), ("new", str(HERE.parent / "src"))] if args.base else []

    def command(spec: dict[str, Any]) -> list[str]:
        if spec["kind"] != "driftd":
            return [sys.executable, pb.__file__, "--worker", json.dumps(spec)]
        env = [f"COLLECTOR_THREADS_OUT={out}"]
        if trees:
            tag, src = trees[runs[0] % 2]
            runs[0] += 1
            env += [f"PYTHONPATH={src}", f"COLLECTOR_THREADS_TAG={tag}"]
        return ["env", *env, sys.executable, __file__, "--worker", json.dumps(spec)]

    pb.worker_command = command
    before = Path(out).read_text().count("\n") if Path(out).exists() else 0
    status = pb.main(rest)
    for line in Path(out).read_text().splitlines()[before:]:
        print(line)
    return status


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        sys.exit(main())
