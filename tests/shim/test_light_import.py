"""``driftd.shim`` imports and works where the heavy dependencies cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = [
    "numpy", "scipy", "pandas", "pyarrow", "river", "clickhouse_connect", "chdb", "fastapi",
    "starlette", "pydantic", "pydantic_settings", "sqlalchemy", "uvicorn", "apprise", "kafka",
    "prometheus_client", "yaml", "driftd.events", "driftd.collector", "driftd.detectors",
    "driftd.storage", "driftd.api", "driftd.config", "driftd.monitoring", "driftd.errors",
]  # fmt: skip

SCRIPT = textwrap.dedent(
    """
    import sys
    HEAVY = set(sys.argv[1].split(","))

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name in HEAVY or name.split(".")[0] in HEAVY:
                raise ImportError(f"blocked heavy import: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    from driftd.shim import (FieldScrubber, HttpTransport, KafkaTransport, MemoryTransport,
                             PredictionLogger, PredictionMiddleware)
    memory = MemoryTransport()
    log = PredictionLogger("m", "v1", transport=memory, register_atexit=False,
                           scrubber=FieldScrubber(drop=["email"]))
    rid = log.log_prediction({"x": 1.0, "email": "a@b"}, 0.5)
    log.log_outcome(rid, 1)
    log.close()
    assert [k for k, _ in memory.events] == ["predictions", "outcomes"], memory.events
    assert "email" not in memory.events[0][1]["features"]
    KafkaTransport("127.0.0.1:1")  # kafka-python is imported only when it sends
    HttpTransport("http://127.0.0.1:1").close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m in HEAVY)
    assert not loaded, loaded
    print("ok")
    """
)


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, ",".join(HEAVY)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shim_needs_only_httpx_and_orjson() -> None:
    done = run(SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_blocker_does_block() -> None:
    """The check above would prove nothing if the blocker let a heavy import through."""
    probe = SCRIPT.split("sys.meta_path.insert(0, Blocker())")[0] + (
        "sys.meta_path.insert(0, Blocker())\nimport driftd.events\n"
    )
    done = run(probe)
    assert done.returncode != 0 and "blocked heavy import" in done.stderr
