"""Helpers for the Kafka integration tests: topics, producing, offsets, a collector process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import yaml
from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition as KafkaPartition

from driftd.baselines import create_baseline
from driftd.storage import ControlStore, EventStore

TIMINGS = {"max_poll_interval_ms": 5000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
FEATURES = ["income", "age", "score_a", "score_b", "country", "channel"]
COUNTING_SCRIPT = Path(__file__).with_name("count_rows.py")
CLIENTS = ["kafka-python", "confluent"]
"""``kafka.client`` values: the collector tests run against both consumers."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
    finally:
        admin.close()


def training_frame(n: int = 2_000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "income": rng.lognormal(10.5, 0.4, n),
        "age": rng.integers(18, 80, n).astype(float),
        "score_a": rng.normal(0, 1, n),
        "score_b": rng.random(n),
        "country": rng.choice(["DE", "FR", "ES"], n),
        "channel": rng.choice(["web", "app"], n),
        "prediction": rng.random(n),
    })  # fmt: skip


def event(model: str, i: int, rng: np.random.Generator, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"{model}-{i}",
        "model": model,
        "request_id": f"r-{i}",
        "features": {
            "income": float(rng.lognormal(10.5, 0.4)),
            "age": int(rng.integers(18, 80)),
            "score_a": float(rng.normal()),
            "score_b": float(rng.random()),
            "country": str(rng.choice(["DE", "FR", "ES"])),
            "channel": "web",
        },
        "prediction": float(rng.random()),
        **extra,
    }


def produce(
    bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]]
) -> dict[int, int]:
    """Produce (key, value) pairs; return the number of messages per partition."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks="all"
    )
    futures = [producer.send(topic, key=k, value=v) for k, v in items]
    producer.flush()
    per_partition: dict[int, int] = {}
    for f in futures:
        meta = f.get(timeout=30)
        per_partition[meta.partition] = max(per_partition.get(meta.partition, 0), meta.offset + 1)
    producer.close()
    return per_partition


def committed(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """The group's committed offsets (0 where none), read with librdkafka.

    Called in tight polling loops: kafka-python 3 can leave the socket of a connection
    still being set up when its client is closed (a ResourceWarning, an error here).
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})  # fmt: skip
    try:
        answered = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        return {tp.partition: max(tp.offset, 0) for tp in answered}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[Any]:
    """The topic's records from the start: waits up to ``timeout_s`` for ``expected`` of
    them, then reads on to the end offsets the broker states at that point, so that every
    record beyond the expected ones written by then is returned too (for the caller's count).

    Partitions are assigned, not subscribed: no group to join.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        numbers = consumer.partitions_for_topic(topic)
        while not numbers and time.monotonic() < deadline:  # created by its first record
            time.sleep(0.2)
            numbers = consumer.partitions_for_topic(topic)
        assert numbers, f"topic {topic} has no partitions after {timeout_s} s"
        partitions = [KafkaPartition(topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)

        def poll() -> None:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)

        while len(records) < expected and time.monotonic() < deadline:
            poll()
        end = consumer.end_offsets(partitions)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            consumer.position(tp) < end[tp] for tp in partitions
        ):
            poll()
    finally:
        consumer.close()
    return records


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def kafka_settings(
    bootstrap: str, topics: dict[str, str], group: str, **over: Any
) -> dict[str, Any]:
    return {
        "enabled": True,
        "bootstrap_servers": [bootstrap],
        "group_id": group,
        "predictions_topic": topics["predictions"],
        "outcomes_topic": topics["outcomes"],
        "deadletter_topic": topics["deadletter"],
        "max_poll_records": 5000,
        **TIMINGS,
        **over,
    }


class CollectorProcess:
    """``driftd run --role collector`` in a subprocess with its own embedded storage."""

    def __init__(self, tmp: Path, config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.config_path = tmp / "driftd.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log = tmp / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = config

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "driftd.cli",
                    "--config",
                    str(self.config_path),
                    "run",
                    "--role",
                    "collector",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.wait()

    def counts(self, model: str | None = None) -> dict[str, Any]:
        """Row counts read by a separate process (one chDB directory per process)."""
        storage = self.config["storage"]
        args = [
            sys.executable,
            str(COUNTING_SCRIPT),
            storage["clickhouse_url"],
            storage["database"],
        ]
        if model:
            args.append(model)
        out = subprocess.run(args, capture_output=True, check=True, timeout=120)
        result: dict[str, Any] = json.loads(out.stdout)
        return result


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def seed_baselines(url: str, database: str, control_url: str, models: list[str]) -> None:
    store = EventStore.connect(url, database)
    control = ControlStore(control_url)
    try:
        store.migrate()
        control.migrate()
        for model in models:
            create_baseline(store, control, training_frame(), model, "v1", prediction="prediction")
    finally:
        store.close()
        control.close()


def seed_in_subprocess(config: dict[str, Any], models: list[str]) -> None:
    """Create baselines inside a collector's own storage, from another process."""
    storage = config["storage"]
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r});"
        "from kafka_helpers import seed_baselines;"
        f"seed_baselines({storage['clickhouse_url']!r}, {storage['database']!r}, "
        f"{storage['control_url']!r}, {models!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
