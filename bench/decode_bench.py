"""Decode → scrub → validate of one batch of Kafka prediction values: exact path vs fast path.

Usage (from the repository root)::

    .venv/bin/python bench/decode_bench.py                  # 10,000-event batches, best of 5
    .venv/bin/python bench/decode_bench.py --decoders       # also the decoder candidates alone

Times :meth:`driftd.collector.validate.Validator.run` (what the pipeline calls per batch)
on the events of ``bench/pipeline_bench.py`` (~430-byte JSON, 14 numeric + 6
categorical + 1 bool feature) with a realistic scrubber (hash/drop rules, the default
sensitive list, value redaction on), for

* ``clean``: every event valid;
* ``5%/5%``: 5% invalid (bad JSON, a missing field, a wrong type, an unknown model,
  an epoch-seconds timestamp) and 5% needing the scrubber (a sensitive key, an e-mail
  in a feature value), spread through the batch;

and prints CPU µs per event (the machine is shared), least of ``--repeat``
interleaved runs, with how many events each fast run handed to the exact path.
``keep_records`` is off (the columnar pipeline's setting); the transitional records
mode is timed too.
"""

from __future__ import annotations

import argparse
import gc
import io
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from driftd.collector.messages import Message
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.events import Coordinates
from driftd.metrics import Metrics
from pipeline_bench import make_events

RULES = {
    "user_id": "hash",
    "customer_id": "hash",
    "account_number": "hash",
    "email": "drop",
    "ip": "drop",
    "device_id": "hash",
    "notes": "drop",
}
MODELS = ["credit-0", "credit-1"]


def mixed(values: list[bytes]) -> list[bytes]:
    """5% invalid and 5% needing the scrubber, every 10th and 10th+5th event."""
    invalid = [
        b'{"model": "credit-0", "features": {"x": 1}, "prediction": 0.5',
        b'{"model": "credit-0", "prediction": 0.5}',
        b'{"model": "credit-0", "features": {"x": [1]}, "prediction": 0.5}',
        b'{"model": "ghost", "features": {"x": 1}, "prediction": 0.5}',
        b'{"model": "credit-0", "features": {"x": 1}, "prediction": 0.5, "timestamp": 1764500000}',
    ]
    out = list(values)
    for k, i in enumerate(range(0, len(out), 20)):
        out[i] = invalid[k % len(invalid)]
    for k, i in enumerate(range(10, len(out), 20)):
        event = orjson.loads(out[i])
        if k % 2:
            event["password"] = "hunter2"
        else:
            event["features"]["notes"] = "mail bob@example.com"
            event["features"]["contact"] = f"user{k}@example.com"
        out[i] = orjson.dumps(event)
    return out


def messages(values: list[bytes]) -> list[Message]:
    now = int(time.time() * 1000)
    return [
        Message("predictions", v, Coordinates("predictions", 0, i), received_ms=now)
        for i, v in enumerate(values)
    ]


def best(run: Callable[[], object], repeat: int) -> float:
    """Least CPU time of ``repeat`` runs (CPU time: the machine is shared)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def validator(fast: bool, records: bool) -> Validator:
    scrubber = Scrubber(RULES, hmac_key=b"bench-key-0123456789")
    known = frozenset(MODELS).__contains__
    return Validator(scrubber, known, Metrics(), fast=fast, keep_records=records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--decoders", action="store_true")
    args = parser.parse_args()
    events, _ = make_events(args.events, MODELS)
    clean = [v for _, v in events]
    batches = {"clean": messages(clean), "5%/5%": messages(mixed(clean))}
    n = args.events
    print(f"{n:,} events per batch, least of {args.repeat}, CPU µs/event\n")
    print("| batch | exact path | fast path | fast, with records | speed-up | to exact path |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, msgs in batches.items():
        exact = validator(False, True)
        fast = validator(True, False)
        fast_records = validator(True, True)
        exact.run(msgs), fast.run(msgs), fast_records.run(msgs)  # warm the caches
        before = fast.fastpath.fallbacks
        fast.run(msgs)
        handed = fast.fastpath.fallbacks - before
        t_exact = t_fast = t_rec = math.inf
        for _ in range(args.repeat):  # interleaved, so a busy spell hits all three
            t_exact = min(t_exact, best(lambda v=exact, m=msgs: v.run(m), 1) / n * 1e6)
            t_fast = min(t_fast, best(lambda v=fast, m=msgs: v.run(m), 1) / n * 1e6)
            t_rec = min(t_rec, best(lambda v=fast_records, m=msgs: v.run(m), 1) / n * 1e6)
        print(
            f"| {name} | {t_exact:.2f} | {t_fast:.2f} | {t_rec:.2f} | "
            f"{t_exact / t_fast:.1f}x | {handed} |"
        )
    if args.decoders:
        decoders(clean, mixed(clean), args.repeat)


def decoders(clean: list[bytes], mix: list[bytes], repeat: int) -> None:
    """The decoder candidates alone (no scrubbing, no validation)."""
    import pyarrow.json as pj

    n = len(clean)
    loads, error = orjson.loads, orjson.JSONDecodeError

    def per_event(values: list[bytes]) -> int:
        bad = 0
        for v in values:
            try:
                loads(v)
            except error:
                bad += 1
        return bad

    options = pj.ReadOptions(use_threads=False, block_size=1 << 26)

    def arrow(values: list[bytes]) -> str:
        try:
            pj.read_json(io.BytesIO(b"\n".join(values)), read_options=options)
        except Exception as exc:  # one bad line fails the block
            return type(exc).__name__
        return "ok"

    from driftd.collector.fastpath import _Shape

    first = orjson.loads(clean[0])
    kinds = tuple(float if type(v) in (int, float) else type(v) for v in first["features"].values())
    shape = _Shape.build(tuple(first["features"]), kinds, float)
    typed_error = (msgspec.DecodeError, ValueError)

    def typed(values: list[bytes]) -> int:
        bad = 0
        for v in values:
            try:
                shape.decoder.decode(v)
            except typed_error:
                bad += 1
        return bad

    print("\n| decoder | clean µs/event | 5%/5% µs/event | 5%/5% outcome |")
    print("| --- | ---: | ---: | --- |")
    t_c = best(lambda: per_event(clean), repeat) / n * 1e6
    t_m = best(lambda: per_event(mix), repeat) / n * 1e6
    print(f"| orjson.loads per event | {t_c:.2f} | {t_m:.2f} | bad events alone fail |")
    t_c = best(lambda: typed(clean), repeat) / n * 1e6
    t_m = best(lambda: typed(mix), repeat) / n * 1e6
    print(
        f"| msgspec into the batch's Struct per event | {t_c:.2f} | {t_m:.2f} | {typed(mix)} fail |"
    )
    t_c = best(lambda: arrow(clean), repeat) / n * 1e6
    t_m = best(lambda: arrow(mix), repeat) / n * 1e6
    print(f"| pyarrow.json.read_json, 1 thread | {t_c:.2f} | {t_m:.2f} | {arrow(mix)} |")


if __name__ == "__main__":
    main()
