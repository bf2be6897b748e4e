"""Process CPU per row of the predictions insert into embedded chDB, background work included.

The rows are the bench's events (``make_events`` of ``pipeline_bench.py``, clean
mix, one model, Kafka coordinates) validated by the collector's own ``Validator``
into 10,000-row ``PredictionBatch`` es, prepared once and pickled. Each variant
then runs in its own process (chDB hosts one engine per process, and server
settings are fixed at start), interleaved per repeat: a fresh data directory,
``EventStore.migrate``, the variant's changes, one warm-up insert, then
``--inserts`` inserts through ``EventStore.insert_predictions`` with the
pipeline's dedup token, and a wait until no merge runs and the part count has
not changed for ``--settle`` seconds.

Variants: ``insert_arrow`` (clickhouse-connect's ``insert_arrow``: an Arrow file
written to a temporary file, then ``INSERT ... FROM INFILE``; the store's path
before), ``store`` (``EventStore.insert_predictions`` as it is), and changes of
settings, skip indexes, column types or engine options on top of
``insert_arrow`` (see ``VARIANTS``).

Printed per variant (medians over the repeats), CPU µs per row:

* ``insert, thread``: the calling thread's CPU inside the insert calls;
* ``insert, process``: process CPU (``getrusage(RUSAGE_SELF)``: every thread)
  inside the insert calls;
* ``with merges``: process CPU from the first insert until the merges settled
  (less the idle CPU of an engine measured over the same wait);
* the active parts left and the bytes on disk.

Usage (from the repository root)::

    .venv/bin/python bench/chdb_insert_bench.py                       # every variant, 3 repeats
    .venv/bin/python bench/chdb_insert_bench.py --variants base,tuned --repeat 5
    .venv/bin/python bench/chdb_insert_bench.py --drift               # the drift_results insert

``--drift`` times ``EventStore.insert_drift_metrics`` of 30 rows (a window's
results) instead, per insert, with the merges it causes (``drift_*`` variants
change ``drift_results``' settings).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepare(path: Path, batches: int, size: int) -> None:
    """Validate ``batches`` x ``size`` bench events as the collector does; pickle the batches."""
    from hotpath_profile import batch_messages, bench_services
    from pipeline_bench import MODEL_PREFIX, make_events

    model = f"{MODEL_PREFIX}-0"
    events, _ = make_events(batches * size, [model])
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        services = bench_services(Path(tmp), [model])
        try:
            for b in range(batches):
                batch = services.pipeline.validator.run(batch_messages(events, b * size, size))
                assert len(batch.store_batch) == size, len(batch.store_batch)
                out.append(batch.store_batch)
        finally:
            services.close()
    path.write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))


# --- variants: (chdb engine options, per-insert settings, statements after migrate) -----

Variant = dict[str, Any]
VARIANTS: dict[str, Variant] = {
    "insert_arrow": {"method": "insert_arrow"},  # clickhouse-connect's, via a temporary file
    "store": {"method": "store"},  # EventStore.insert_predictions as it is
    "threads1": {"settings": {"max_insert_threads": 1, "max_threads": 1}},
    "store_lckeys": {
        "method": "store",
        "alter": [
            "ALTER TABLE {db}.predictions MODIFY COLUMN num Map(LowCardinality(String), Float64)",
            "ALTER TABLE {db}.predictions MODIFY COLUMN cat Map(LowCardinality(String), String)",
        ],
    },
    "nosparse": {
        "alter": [
            "ALTER TABLE {db}.predictions MODIFY SETTING "
            "ratio_of_defaults_for_sparse_serialization = 1"
        ]
    },
    "nobloom": {"alter": ["ALTER TABLE {db}.predictions DROP INDEX request_id_bloom"]},
    "nominmax": {"alter": ["ALTER TABLE {db}.predictions DROP INDEX src_offset_minmax"]},
    "lckeys": {
        "alter": [
            "ALTER TABLE {db}.predictions MODIFY COLUMN num Map(LowCardinality(String), Float64)",
            "ALTER TABLE {db}.predictions MODIFY COLUMN cat Map(LowCardinality(String), String)",
        ]
    },
    "lckeysvals": {
        "alter": [
            "ALTER TABLE {db}.predictions MODIFY COLUMN num Map(LowCardinality(String), Float64)",
            "ALTER TABLE {db}.predictions MODIFY COLUMN cat "
            "Map(LowCardinality(String), LowCardinality(String))",
        ]
    },
    "pool1": {"engine": {"background_pool_size": 1}},
    "drift_minparts": {
        "drift_alter": [
            "ALTER TABLE {db}.drift_results MODIFY SETTING min_parts_to_merge_at_once = 10"
        ]
    },
    "drift_nodedup": {
        "drift_alter": [
            "ALTER TABLE {db}.drift_results MODIFY SETTING non_replicated_deduplication_window = 0"
        ]
    },
    "drift_noindex": {
        "drift_alter": [
            "ALTER TABLE {db}.drift_results DROP INDEX IF EXISTS window_end_minmax",
            "ALTER TABLE {db}.drift_results DROP INDEX IF EXISTS severity_set",
        ]
    },
    "bloom05": {
        "alter": [
            "ALTER TABLE {db}.predictions DROP INDEX request_id_bloom",
            "ALTER TABLE {db}.predictions ADD INDEX request_id_bloom request_id "
            "TYPE bloom_filter(0.05) GRANULARITY 1",
        ]
    },
    "pyfunc": {"method": "python"},
}


def _store(url_path: Path, variant: Variant) -> Any:
    import clickhouse_connect

    from driftd.storage.clickhouse import EventStore

    client = clickhouse_connect.get_client(
        interface="chdb", path=str(url_path), chdb_options=variant.get("engine") or None
    )
    return EventStore(client)


def _inserter(store: Any, variant: Variant) -> Callable[[Any, str | None], None]:
    """The insert to time: the store's own, or a variant's replacement."""
    settings = {k: str(v) for k, v in variant.get("settings", {}).items()}
    method = variant.get("method")
    from driftd.storage import columns as cols

    if method == "store":
        return store.insert_predictions  # type: ignore[no-any-return]
    table = f"{store.database}.predictions"
    client = store.client

    def via_client(batch: Any, token: str | None) -> None:
        s = dict(settings)
        if token is not None:
            s["insert_deduplication_token"] = token
        client.insert_arrow(table, cols.prediction_arrow(batch).table, settings=s)

    if method in (None, "insert_arrow"):
        return via_client
    handle = client._backend._handle  # type: ignore[attr-defined]  # the chDB engine's
    names = ", ".join(cols.PREDICTION_INSERT_COLUMNS.names)

    def clause(token: str | None) -> str:
        s = dict(settings)
        if token is not None:
            s["insert_deduplication_token"] = token
        return ", ".join(f"{k} = '{v}'" for k, v in s.items())

    def via_python(batch: Any, token: str | None) -> None:
        arrow = cols.prediction_arrow(batch).table  # noqa: F841 (read by the Python() table function)
        with handle.lock:
            handle.conn.query(
                f"INSERT INTO {table} ({names}) SETTINGS {clause(token)} "
                f"SELECT {names} FROM Python(arrow)",
                "TabSeparated",
            )

    return via_python


def _settle(store: Any, quiet_s: float, limit_s: float = 120.0, table: str = "predictions") -> int:
    """Wait until no merge runs and the active part count held for ``quiet_s``; return it."""
    db = store.database
    last, since, started = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - started < limit_s:
        merging = int(str(store.client.command("SELECT count() FROM system.merges")))
        parts = int(
            str(
                store.client.command(
                    f"SELECT count() FROM system.parts WHERE database = '{db}' "
                    f"AND table = '{table}' AND active"
                )
            )
        )
        if merging or parts != last:
            last, since = parts, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return parts
        time.sleep(1.0)
    return last


def child(variant_name: str, batches_path: Path, inserts: int, settle: float) -> dict[str, Any]:
    from driftd.collector.pipeline import batch_dedup_token

    variant = VARIANTS[variant_name]
    batches = pickle.loads(batches_path.read_bytes())
    assert len(batches) >= inserts + 1, (len(batches), inserts)
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp) / "ch", variant)
        store.migrate()
        for statement in variant.get("alter", []):
            store.client.command(statement.format(db=store.database))
        insert = _inserter(store, variant)
        insert(batches[0], batch_dedup_token("predictions", batches[0]))
        _settle(store, settle)
        idle_started, idle_wall = _cpu(), time.monotonic()
        _settle(store, settle)  # nothing changes: the CPU of waiting (and polling) alone
        idle = (_cpu() - idle_started) / (time.monotonic() - idle_wall)
        started_cpu, started_wall = _cpu(), time.monotonic()
        in_thread = in_process = 0.0
        for batch in batches[1 : inserts + 1]:
            token = batch_dedup_token("predictions", batch)
            p, t = _cpu(), time.thread_time()
            insert(batch, token)
            in_thread += time.thread_time() - t
            in_process += _cpu() - p
        parts = _settle(store, settle)
        wall = time.monotonic() - started_wall
        total = _cpu() - started_cpu - idle * wall
        rows = sum(len(b) for b in batches[1 : inserts + 1])
        stored = int(str(store.client.command(f"SELECT count() FROM {store.database}.predictions")))
        assert stored == rows + len(batches[0]), (stored, rows)
        on_disk = int(
            str(
                store.client.command(
                    "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = "
                    f"'{store.database}' AND table = 'predictions' AND active"
                )
            )
        )
        store.close()
    per = 1e6 / rows
    return {
        "insert_thread": in_thread * per,
        "insert_process": in_process * per,
        "with_merges": total * per,
        "parts": parts,
        "mib": on_disk / 2**20,
    }


def drift_child(variant_name: str, inserts: int, settle: float) -> dict[str, Any]:
    """µs per ``insert_drift_metrics`` call of 30 rows (a window's results)."""
    from driftd.storage.records import DriftMetric

    variant = VARIANTS[variant_name]
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp) / "ch", variant)
        store.migrate()
        now = int(time.time() * 1000)

        def window(w: int) -> list[DriftMetric]:
            return [
                DriftMetric(
                    "credit-0",
                    "2026-11-01",
                    w,
                    now,
                    now + 1,
                    f"f{i}",
                    "psi",
                    0.01 * i,
                    10_000,
                    now,
                    0.5,
                    0.1,
                    "ok",
                    "",
                )
                for i in range(30)
            ]

        insert = store.insert_drift_metrics
        for statement in variant.get("drift_alter", []):
            store.client.command(statement.format(db=store.database))
        insert(window(0), dedup_token="w0")
        _settle(store, settle, table="drift_results")
        idle_started, idle_wall = _cpu(), time.monotonic()
        _settle(store, settle, table="drift_results")
        idle = (_cpu() - idle_started) / (time.monotonic() - idle_wall)
        started_cpu, own, wall = _cpu(), time.thread_time(), time.monotonic()
        for w in range(1, inserts + 1):
            insert(window(w), dedup_token=f"w{w}")
        process = _cpu() - started_cpu
        thread = time.thread_time() - own
        _settle(store, settle, table="drift_results")
        merged = _cpu() - started_cpu - idle * (time.monotonic() - wall)
        store.close()
    return {
        "call_thread_us": thread * 1e6 / inserts,
        "call_process_us": process * 1e6 / inserts,
        "with_merges_us": merged * 1e6 / inserts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inserts", type=int, default=20, help="timed inserts per run")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--settle", type=float, default=6.0, help="quiet seconds = merges done")
    parser.add_argument("--drift", action="store_true", help="time the drift_results insert")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--batches-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.drift:
            result = drift_child(args.child, args.inserts, args.settle)
        else:
            result = child(args.child, Path(args.batches_file), args.inserts, args.settle)
        print(json.dumps(result))
        return

    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = Path(tmp) / "batches.pkl"
        if not args.drift:
            prepare(batches_file, args.inserts + 1, args.batch)
        results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        loads = [os.getloadavg()[0]]
        for r in range(args.repeat):
            for name in names if r % 2 == 0 else reversed(names):
                command = [sys.executable, str(HERE), "--child", name]
                command += ["--inserts", str(args.inserts), "--settle", str(args.settle)]
                command += ["--drift"] if args.drift else ["--batches-file", str(batches_file)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(f"{name}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                    continue
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                loads.append(os.getloadavg()[0])
    print(
        f"{args.repeat} repeats, interleaved; load average (1 min) "
        f"{min(loads):.2f}-{max(loads):.2f}"
    )
    if args.drift:
        print(f"insert_drift_metrics, 30 rows, {args.inserts} calls; µs per call (medians)")
        print("| variant | thread | process | with merges |\n| --- | ---: | ---: | ---: |")
        for name, runs in results.items():
            if runs:
                t, p, m = (
                    statistics.median(x[k] for x in runs)
                    for k in ("call_thread_us", "call_process_us", "with_merges_us")
                )
                print(f"| {name} | {t:.0f} | {p:.0f} | {m:.0f} |")
        return
    print(f"{args.inserts} inserts of {args.batch:,} rows; CPU µs per row (medians; all runs)")
    print(
        "| variant | insert, thread | insert, process | with merges | parts left | MiB |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    for name, runs in results.items():
        if not runs:
            continue

        def med(key: str, runs: list[dict[str, Any]] = runs) -> str:
            values = [x[key] for x in runs]
            spread = "/".join(f"{v:.2f}" for v in values)
            return f"{statistics.median(values):.2f} (min {min(values):.2f}; {spread})"

        parts = statistics.median(x["parts"] for x in runs)
        mib = statistics.median(x["mib"] for x in runs)
        print(
            f"| {name} | {med('insert_thread')} | {med('insert_process')} | "
            f"{med('with_merges')} | {parts:.0f} | {mib:.1f} |"
        )


if __name__ == "__main__":
    main()
