"""Raw consume rates of the two Kafka clients driftd can use (``kafka.client``).

Usage (from the repository root)::

    .venv/bin/python bench/kafka_client_bench.py                  # 200,000 events, 3 runs
    .venv/bin/python bench/kafka_client_bench.py --events 50000 --repeat 1   # quick

One Tansu broker (memory storage, pinned to the last CPU) and one topic of N
prediction events (~430-byte JSON, ``pipeline_bench.make_events``, one
partition unless ``--partitions``). Each side consumes the whole topic in a
fresh consumer group, in its own subprocess pinned to CPU 0, interleaved with
the others, timed from the first record to the N-th (wall and CPU time of the
process, all threads: the clients' fetch threads count; CPU from the
partition assignment on, as both clients fetch ahead of the first record):

* ``kafka-python`` / ``+orjson``: ``KafkaConsumer.poll`` with driftd's consumer
  knobs, no decode / ``orjson.loads`` of every value;
* ``confluent`` / ``+orjson``: ``Consumer.consume`` with driftd's librdkafka
  properties (``confluent_config``), likewise;
* ``KafkaSource`` / ``ConfluentSource``: driftd's own sources, records turned
  into ``Message`` objects (what the collector's pipeline receives).

Prints a markdown table: medians of events/s and events per CPU-second.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from pipeline_bench import (
    FETCH,
    MAX_POLL_RECORDS,
    MEASURE_CPU,
    STALL_S,
    TANSU_GROUP,
    cpu_seconds,
    create_topics,
    log,
    make_events,
    new_producer,
    peak_rss_mb,
    pin,
    produce,
    tansu,
)

SIDES = [
    "kafka-python",
    "kafka-python+orjson",
    "confluent",
    "confluent+orjson",
    "KafkaSource",
    "ConfluentSource",
]


class Clock:
    """Wall seconds from the first record to the last; CPU seconds from the assignment.

    CPU counts from the moment the group assigns the partition (the rebalance
    callback): both clients fetch ahead in background threads, so CPU counted from
    the first record would leave out the fetches done before it, and CPU counted
    from the subscription would add the idle group join.
    """

    def __init__(self, want: int) -> None:
        self.want = want
        self.n = 0
        self.first = self.last = self.cpu_last = self.cpu_first = self.cpu_at_record = 0.0
        self.deadline = time.monotonic() + STALL_S

    def assigned(self, *args: Any) -> None:
        if self.cpu_first == 0.0:
            self.cpu_first = cpu_seconds()

    def add(self, count: int) -> None:
        if not count:
            if time.monotonic() > self.deadline:
                raise RuntimeError(f"stalled at {self.n} of {self.want} records")
            return
        if self.n == 0:
            self.first, self.cpu_at_record = time.perf_counter(), cpu_seconds()
        self.n += count
        self.last, self.cpu_last = time.perf_counter(), cpu_seconds()
        self.deadline = time.monotonic() + STALL_S

    def result(self) -> dict[str, Any]:
        return {
            "events": self.n,
            "seconds": self.last - self.first,
            "cpu_seconds": self.cpu_last - self.cpu_first,
            "cpu_seconds_from_record": self.cpu_last - self.cpu_at_record,
            "rss_mb": peak_rss_mb(),
        }


def settings_for(spec: dict[str, Any], client: str) -> Any:
    from driftd.config import KafkaSettings

    return KafkaSettings(
        enabled=True,
        client=client,
        bootstrap_servers=[spec["bootstrap"]],
        group_id=spec["group"],
        client_id="bench-client",
        predictions_topic=spec["topic"],
        outcomes_topic=spec["topic"] + "-outcomes",
        max_poll_records=MAX_POLL_RECORDS,
        **TANSU_GROUP,
    )


def worker_kafka_python(spec: dict[str, Any], decode: bool) -> dict[str, Any]:
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    loads = orjson.loads
    clock = Clock(int(spec["events"]))

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_assigned(self, assigned: Any) -> None:
            clock.assigned()

        def on_partitions_revoked(self, revoked: Any) -> None:
            pass

    consumer = KafkaConsumer(
        bootstrap_servers=[spec["bootstrap"]],
        group_id=spec["group"],
        client_id="bench-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=MAX_POLL_RECORDS,
        **TANSU_GROUP,
        **FETCH,
    )
    consumer.subscribe([spec["topic"]], listener=Listener())
    try:
        while clock.n < clock.want:
            polled = consumer.poll(timeout_ms=500, max_records=MAX_POLL_RECORDS)
            n = 0
            for records in polled.values():
                if decode:
                    for r in records:
                        loads(r.value)
                n += len(records)
            clock.add(n)
    finally:
        consumer.close(autocommit=False)
    return clock.result()


def worker_confluent(spec: dict[str, Any], decode: bool) -> dict[str, Any]:
    from confluent_kafka import Consumer

    from driftd.collector.confluent_source import confluent_config

    loads = orjson.loads
    config = confluent_config(settings_for(spec, "confluent"))
    clock = Clock(int(spec["events"]))
    consumer = Consumer(config)
    consumer.subscribe([spec["topic"]], on_assign=clock.assigned)
    try:
        while clock.n < clock.want:
            records = consumer.consume(MAX_POLL_RECORDS, 0.5)
            n = 0
            for r in records:
                if r.error() is not None:
                    raise RuntimeError(str(r.error()))
                if decode:
                    loads(r.value())
                n += 1
            clock.add(n)
    finally:
        consumer.close()
    return clock.result()


def worker_source(spec: dict[str, Any], client: str) -> dict[str, Any]:
    from driftd.collector.consumer import make_source

    source = make_source(settings_for(spec, client), stored_offsets=lambda kind, topic, ps: {})
    gc.collect()
    gc.freeze()  # as Daemon.start does: start-up objects leave the collector's generations
    clock = Clock(int(spec["events"]))
    assigned = source._assigned

    def timed_assigned(partitions: Any) -> None:
        clock.assigned()
        assigned(partitions)

    source._assigned = timed_assigned  # type: ignore[method-assign]
    source.start()
    try:
        while clock.n < clock.want:
            clock.add(len(source.poll()))
    finally:
        source.close()
    return clock.result()


def commit_times(bootstrap: str, topic: str, client: str, per_mode: int = 10) -> dict[str, str]:
    """Synchronous against asynchronous ``commit`` of 1,000-event batches (ms per call)."""
    from driftd.collector.consumer import make_source

    spec = {"bootstrap": bootstrap, "topic": topic, "group": f"bench-{uuid.uuid4().hex[:8]}"}
    settings = settings_for(spec, client).model_copy(update={"max_poll_records": 1_000})
    source = make_source(settings, stored_offsets=lambda kind, topic, ps: {})
    source.start()
    times: dict[str, list[float]] = {"sync": [], "async": []}
    deadline = time.monotonic() + STALL_S
    try:
        for asynchronous in (True, False, True, False):
            source.settings = settings.model_copy(update={"commit_async": asynchronous})
            for _ in range(per_mode):
                batch = source.poll()
                while not batch:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the topic ran dry: raise --events")
                    batch = source.poll()
                started = time.perf_counter()
                source.commit(batch)
                times["async" if asynchronous else "sync"].append(
                    (time.perf_counter() - started) * 1000
                )
    finally:
        source.close()
    return {k: f"{statistics.median(v):.2f} / {max(v):.2f} ms" for k, v in times.items()}


def worker_main(raw_spec: str) -> None:
    spec: dict[str, Any] = json.loads(raw_spec)
    pin(MEASURE_CPU)
    side = spec["side"]
    if side.startswith("commit "):
        result = commit_times(spec["bootstrap"], spec["topic"], side.removeprefix("commit "))
    elif side.startswith("kafka-python"):
        result = worker_kafka_python(spec, side.endswith("+orjson"))
    elif side.startswith("confluent"):
        result = worker_confluent(spec, side.endswith("+orjson"))
    else:
        result = worker_source(spec, "confluent" if side == "ConfluentSource" else "kafka-python")
    print(json.dumps(result))


def run_side(side: str, bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    spec = {
        "side": side,
        "bootstrap": bootstrap,
        "topic": topic,
        "events": n,
        "group": f"bench-{uuid.uuid4().hex[:8]}",
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=STALL_S * 4,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {side} failed with status {proc.returncode}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not side.startswith("commit ") and result["events"] != n:
        raise RuntimeError(f"{side} consumed {result['events']} of {n}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; medians shown")
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated subset")
    parser.add_argument(
        "--commits",
        action="store_true",
        help="also time synchronous against asynchronous commits of 1,000-event batches",
    )
    args = parser.parse_args(argv)
    sides = [s for s in args.sides.split(",") if s]
    cpus = sorted(os.sched_getaffinity(0))
    broker_cpu = cpus[-1]
    if broker_cpu != MEASURE_CPU:
        pin(broker_cpu)
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    with (
        tempfile.TemporaryDirectory(prefix="driftd-client-bench-") as tmp,
        tansu(Path(tmp), broker_cpu) as bootstrap,
    ):
        topic = f"bench-clients-{uuid.uuid4().hex[:8]}"
        models = [f"credit-{i}" for i in range(args.partitions)]
        create_topics(bootstrap, {topic: args.partitions})
        events, _ = make_events(args.events, models)
        mean_bytes = statistics.mean(len(v) for _, v in events)
        producer = new_producer(bootstrap)
        try:
            produce(producer, topic, events, models)
        finally:
            producer.close()
        del events
        for i in range(args.repeat):
            for side in sides:  # interleaved, so background load hits every side
                result = run_side(side, bootstrap, topic, args.events)
                runs[side].append(result)
                log(
                    f"run {i + 1}/{args.repeat} {side:<20} "
                    f"{result['events'] / result['seconds']:>10,.0f} ev/s "
                    f"{result['events'] / result['cpu_seconds']:>10,.0f} ev/CPU-s"
                )
        commits = {
            client: run_side(f"commit {client}", bootstrap, topic, args.events)
            for client in (("kafka-python", "confluent") if args.commits else ())
        }
    load_after = os.getloadavg()
    from importlib.metadata import version

    import confluent_kafka

    print(
        f"\nkafka-python {version('kafka-python')}, confluent-kafka {version('confluent-kafka')}"
        f" (librdkafka {confluent_kafka.libversion()[0]}), orjson {version('orjson')}; "
        f"{args.events:,} events of ~{mean_bytes:.0f} B, {args.partitions} partition(s); "
        f"consumer on CPU {MEASURE_CPU}, Tansu on CPU {broker_cpu}; median of {args.repeat}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(
        "| side | events/s | events per CPU-second | µs CPU per event "
        "| per CPU-s, from the first record | peak RSS MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for side, results in runs.items():
        rate = statistics.median(r["events"] / r["seconds"] for r in results)
        cpu = statistics.median(r["events"] / r["cpu_seconds"] for r in results)
        late = statistics.median(r["events"] / r["cpu_seconds_from_record"] for r in results)
        rss = statistics.median(r["rss_mb"] for r in results)
        print(f"| {side} | {rate:,.0f} | {cpu:,.0f} | {1e6 / cpu:.2f} | {late:,.0f} | {rss:.0f} |")
    if commits:
        print("\n| client | synchronous commit (median / max) | asynchronous (median / max) |")
        print("| --- | ---: | ---: |")
        for client, answer in commits.items():
            print(f"| {client} | {answer['sync']} | {answer['async']} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
    else:
        sys.exit(main())
