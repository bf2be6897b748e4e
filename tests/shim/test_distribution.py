"""``driftd-shim`` (shim/pyproject.toml): a wheel of the shim alone, working in a bare venv.

The wheel is built offline (hatchling from uv's cache) and installed without
dependencies into a fresh virtual environment whose only other packages are
httpx's and orjson's (linked from this environment): no driftd, numpy,
pandas, pydantic or FastAPI can be imported there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
LIGHT = ["httpx", "httpcore", "h11", "anyio", "idna", "certifi", "sniffio", "orjson",
         "typing_extensions.py"]  # fmt: skip

SCRIPT = textwrap.dedent(
    """
    import http.server, sys, threading
    import orjson
    from driftd.shim import HttpTransport, PredictionLogger

    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            got.extend((self.path, orjson.loads(line)) for line in body.splitlines())
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"accepted": 1, "rejected": []}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log = PredictionLogger("m", "v1", transport=HttpTransport(
        f"http://127.0.0.1:{server.server_port}"), register_atexit=False)
    rid = log.log_prediction({"x": 1.5}, 0.25)
    log.log_outcome(rid, 1)
    log.close(timeout_s=30)
    server.shutdown()
    assert [p for p, _ in got] == ["/v1/events/predictions", "/v1/events/outcomes"], got
    assert got[0][1]["request_id"] == rid == got[1][1]["request_id"]
    heavy = [m for m in ("numpy", "pandas", "pydantic", "fastapi", "driftd.events")
             if m in sys.modules]
    assert not heavy, heavy
    import importlib.util
    assert not [m for m in ("numpy", "pydantic") if importlib.util.find_spec(m)]
    print("ok")
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = str(UV) if UV.exists() else shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (make .venv/.synced installs it)")
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "UV_OFFLINE": "1"}
    subprocess.run([uv, "build", "--wheel", str(ROOT / "shim"), "-o", str(out)],
                   check=True, capture_output=True, env=env, timeout=300)  # fmt: skip
    (built,) = out.glob("driftd_shim-*.whl")
    return built


def test_the_wheel_holds_the_shim_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    code = sorted(n for n in names if not n.startswith("driftd_shim-"))
    expected = sorted(f"driftd/shim/{p.name}" for p in (ROOT / "src/driftd/shim").glob("*.py"))
    assert code == expected
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    requires = sorted(
        line.split(":", 1)[1].strip() for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )  # fmt: skip
    assert requires == ["httpx>=0.27", "orjson>=3.10"]


def test_the_shim_works_in_a_venv_with_only_httpx_and_orjson(wheel: Path, tmp_path: Path) -> None:
    uv = str(UV) if UV.exists() else str(shutil.which("uv"))
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_OFFLINE": "1"}
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)],
                   check=True, env=env, timeout=120)  # fmt: skip
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--no-deps", "--python", str(python), str(wheel)],
                   check=True, env=env, timeout=120)  # fmt: skip
    here = Path(next(p for p in sys.path if p.endswith("site-packages")))
    deps = tmp_path / "deps"
    deps.mkdir()
    for name in LIGHT:
        if (here / name).exists():
            (deps / name).symlink_to(here / name)
    (venv / "lib" / "python3.11" / "site-packages" / "light.pth").write_text(f"{deps}\n")
    done = subprocess.run([str(python), "-c", SCRIPT], check=False, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
