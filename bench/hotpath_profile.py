"""CPU per event of ``Pipeline.process`` on 10k-event batches, per stage.

The collector's hot path without Kafka: the bench's events (``make_events`` of
``pipeline_bench.py``, clean mix unless ``--mix dirty``, one model, Kafka
coordinates) go through the ``Pipeline`` that ``build_services`` assembles (chDB,
SQLite control store, the bench's scrubbing, the default detector suite, windows
of 10,000: every batch closes one window), in batches of 10,000 messages. The
first batch is a warm-up.

Usage (from the repository root)::

    .venv/bin/python bench/hotpath_profile.py                    # 10 batches, figures
    .venv/bin/python bench/hotpath_profile.py --profile out.prof  # and a cProfile of it
    .venv/bin/python bench/hotpath_profile.py --mix dirty         # 5% invalid, 5% sensitive

Prints CPU µs per event of ``Pipeline.process`` and of the stages inside it
(decode + scrub + validate, insert predictions, monitor.process) and the rest
(what is neither): process CPU time (every thread, chDB's background work and
the daemon's tickers included) and the collector thread's own CPU time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from driftd.baselines import create_baseline
from driftd.collector.messages import Message
from driftd.config import load_settings
from driftd.events import Coordinates
from driftd.services import Services, build_services
from pipeline_bench import (
    HMAC_KEY,
    MODEL_PREFIX,
    SCRUB_FIELDS,
    VERSION,
    WINDOW,
    make_events,
    make_frame,
)

TOPIC = "bench.predictions"


def timed(totals: dict[str, list[float]], stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, own = time.process_time(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[stage][0] += time.process_time() - started
            totals[stage][1] += time.thread_time() - own

    return wrapper


def bench_services(root: Path, models: list[str], window: int = WINDOW) -> Services:
    """The services ``Daemon.start`` builds (chDB and SQLite under ``root``, the bench's
    scrubbing, windows of ``window`` events), with a baseline for each of ``models``."""
    settings = load_settings(
        None,
        storage={
            "clickhouse_url": f"chdb://{root / 'clickhouse'}",
            "control_url": f"sqlite:///{root / 'control.db'}",
        },
        window={"size": window},
        scrub={"hmac_key": HMAC_KEY, "fields": SCRUB_FIELDS, "default_sensitive": True},
    )
    services = build_services(settings)
    try:
        baseline = make_frame(20_000, seed=3)
        for model in models:
            create_baseline(
                services.store, services.control, baseline, model, VERSION, prediction="score"
            )
    except BaseException:
        services.close()
        raise
    return services


def batch_messages(
    events: list[tuple[str, bytes]], first: int, size: int, *, interleaved: bool = True
) -> list[Message]:
    """Messages of ``events[first : first + size]``, their offsets their positions; unless
    ``interleaved``, grouped by model (stably), as a poll of one model per partition."""
    now_ms = int(time.time() * 1000)
    messages = [
        (model, Message("predictions", value, Coordinates(TOPIC, 0, i), now_ms))
        for i, (model, value) in enumerate(events[first : first + size], start=first)
    ]
    if not interleaved:
        messages.sort(key=lambda pair: pair[0])
    return [message for _, message in messages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=10, help="timed batches (after 1 warm-up)")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--profile", help="write a cProfile of the timed batches here")
    parser.add_argument("--top", type=int, default=35, help="cProfile rows to print")
    parser.add_argument(
        "--models",
        type=int,
        default=1,
        help="models, round-robin in every batch (as pipeline_bench's partitions: one model each)",
    )
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="with --models: models alternate event by event in a batch (HTTP ingest of "
        "many models) instead of coming grouped (a Kafka poll, one model per partition)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=WINDOW,
        help=f"window size in events (default {WINDOW:,}, as pipeline_bench; "
        "driftd's own default is 1,000)",
    )
    parser.add_argument(
        "--mix",
        choices=["clean", "dirty"],
        default="clean",
        help="dirty: 5%% of the events invalid (dead-lettered), 5%% with sensitive keys",
    )
    args = parser.parse_args()

    models = [f"{MODEL_PREFIX}-{m}" for m in range(args.models)]
    n = args.batch * (args.batches + 1)
    events, _ = make_events(n, models, mix=args.mix)
    # make_events' dirty mix: event i is invalid when i % 20 == 7
    invalid = sum(1 for i in range(args.batch, n) if args.mix == "dirty" and i % 20 == 7)
    with tempfile.TemporaryDirectory() as tmp:
        services = bench_services(Path(tmp), models, args.window)
        try:
            pipeline = services.pipeline
            totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            validator, store, monitor = pipeline.validator, services.store, services.monitor
            validator.run = timed(totals, "decode + scrub + validate", validator.run)  # type: ignore[method-assign]
            store.insert_predictions = timed(  # type: ignore[method-assign]
                totals, "insert predictions", store.insert_predictions
            )
            monitor.process = timed(totals, "monitor.process", monitor.process)  # type: ignore[method-assign]
            batches = [
                batch_messages(events, b * args.batch, args.batch, interleaved=args.interleaved)
                for b in range(args.batches + 1)
            ]
            gc.collect()
            gc.freeze()  # as Daemon.start does
            pipeline.process(batches[0])  # warm-up: baseline loaded, first window opened
            totals.clear()
            profiler = cProfile.Profile() if args.profile else None
            runs: list[float] = []
            threads: list[float] = []
            stored = closed = 0
            for messages in batches[1:]:
                if profiler is not None:
                    profiler.enable()
                started, own = time.process_time(), time.thread_time()
                result = pipeline.process(messages)
                runs.append(time.process_time() - started)
                threads.append(time.thread_time() - own)
                if profiler is not None:
                    profiler.disable()
                stored += result.stored
                closed += result.windows_closed
            timed_events = args.batch * args.batches
            assert stored == timed_events - invalid, (stored, timed_events, invalid)
            assert abs(closed - (timed_events - invalid) // args.window) <= args.models, closed
            per = 1e6 / timed_events
            total, thread = sum(runs), sum(threads)
            print(
                f"{args.batches} batches of {args.batch:,}, windows of {args.window:,}, "
                f"{args.models} model(s), {args.mix} mix"
                f"{', interleaved' if args.interleaved and args.models > 1 else ''}; "
                "CPU µs per event"
            )
            print("| stage | process (all threads) | collector thread |\n| --- | ---: | ---: |")
            print(f"| Pipeline.process | {total * per:.2f} | {thread * per:.2f} |")
            for stage, (seconds, own) in totals.items():
                print(f"| {stage} | {seconds * per:.2f} | {own * per:.2f} |")
                total, thread = total - seconds, thread - own
            print(f"| rest of Pipeline.process | {total * per:.2f} | {thread * per:.2f} |")
            runs_us = ", ".join(f"{r * 1e6 / args.batch:.1f}" for r in runs)
            print(f"per batch: {runs_us}")
            if profiler is not None:
                profiler.dump_stats(args.profile)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        finally:
            services.close()


if __name__ == "__main__":
    main()
