"""What a dirty stream costs beyond a clean one, in-process (issue 12).

Two measurements, CPU (``time.process_time``, all threads), medians:

* ``validate``: ``Validator.run`` (the pipeline's: fast path, then the exact path
  for what it hands back) per event on 10,000-event batches of
  ``pipeline_bench.make_events``, clean and dirty mixes, the bench's scrubbing.
* ``deadletters``: CPU per dead letter of one ``publish`` of 500 letters, against a
  Tansu broker, for each producer given (``kp`` = kafka-python as
  ``make_producer`` builds it, ``kp-old`` = its former linger 5 ms / 16 KiB,
  ``confluent`` = :class:`ConfluentDeadLetters`).

Usage::

    .venv/bin/python bench/dirty_bench.py validate
    .venv/bin/python bench/dirty_bench.py deadletters --producers kp-old,kp,confluent
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pipeline_bench as pb
from driftd.collector.deadletter import KafkaDeadLetters
from driftd.collector.messages import DeadLetter, Message, coordinates
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.config.settings import KafkaSettings
from driftd.metrics import Metrics

MODELS = ["credit-0", "credit-1"]


def validate(batch: int, batches: int, repeat: int) -> None:
    for mix in ("clean", "dirty"):
        events, _ = pb.make_events(batch * batches, MODELS, mix=mix)
        scrubber = Scrubber(pb.SCRUB_FIELDS, hmac_key=pb.HMAC_KEY.encode(), default_sensitive=True)
        validator = Validator(scrubber, set(MODELS).__contains__, Metrics(), keep_records=False)
        runs = [
            [
                Message("predictions", value, coordinates("t", 0, b * batch + i), 1)
                for i, (_, value) in enumerate(events[b * batch : (b + 1) * batch])
            ]
            for b in range(batches)
        ]
        for messages in runs:  # warm: shapes, plans, caches
            validator.run(messages)
        times = []
        for _ in range(repeat):
            for messages in runs:
                started = time.process_time()
                validator.run(messages)
                times.append((time.process_time() - started) / batch * 1e6)
        fallbacks = validator.fastpath.fallbacks / (batches * (repeat + 1))
        print(
            f"{mix:5s} Validator.run {statistics.median(times):6.2f} µs/event "
            f"(median of {len(times)}); {fallbacks:,.0f} events per batch to the exact path"
        )


def letters(n: int) -> list[DeadLetter]:
    payload = {"model": "credit-0", "prediction": 0.5, "features": {"ctry": "DE", "inc": 1.5}}
    return [
        DeadLetter(
            "predictions",
            "invalid_latency",
            "latency_ms must be >= 0",
            payload if i % 3 else None,
            coordinates("bench.t", 0, i),
            i,
        )
        for i in range(n)
    ]


def deadletters(producers: list[str], repeat: int) -> None:
    from kafka import KafkaProducer

    from driftd.collector.kafka_source import make_producer

    with tempfile.TemporaryDirectory() as tmp, pb.tansu(Path(tmp), 1) as bootstrap:
        pb.create_topics(bootstrap, {"dl": 1})
        settings = KafkaSettings(enabled=True, bootstrap_servers=[bootstrap])
        sinks: dict[str, Any] = {}
        for name in producers:
            if name == "kp":
                sinks[name] = KafkaDeadLetters(make_producer(settings), "dl")
            elif name == "kp-old":
                old = KafkaProducer(
                    bootstrap_servers=[bootstrap], acks="all", linger_ms=5, retries=5
                )
                sinks[name] = KafkaDeadLetters(old, "dl")
            elif name == "confluent":
                from driftd.collector.confluent_deadletter import ConfluentDeadLetters

                sinks[name] = ConfluentDeadLetters.connect(settings, "dl")
            else:
                raise SystemExit(f"unknown producer {name!r}")
        batch = letters(500)
        for sink in sinks.values():
            sink.publish(batch[:10])
        cpu: dict[str, list[float]] = {name: [] for name in sinks}
        for _ in range(repeat):  # interleaved
            for name, sink in sinks.items():
                started = time.process_time()
                sink.publish(batch)
                cpu[name].append((time.process_time() - started) / len(batch) * 1e6)
        for name, values in cpu.items():
            print(f"{name:10s} {statistics.median(values):6.1f} µs CPU per dead letter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["validate", "deadletters"])
    parser.add_argument("--producers", default="kp-old,kp,confluent")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.what == "validate":
        validate(10_000, 3, args.repeat)
    else:
        deadletters(args.producers.split(","), args.repeat)


if __name__ == "__main__":
    main()
