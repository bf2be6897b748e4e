"""docs/troubleshooting.md covers every one-line error the ``driftd`` command itself words.

The CLI modules are read, not run: each message raised or printed there (an
exception's text, an argparse type error, a ``ConfigError`` problem's fix, a
line printed to stderr) must have its wording in the troubleshooting page.
Messages that only pass on another component's text (``str(detail)``) are the
API's and storage's, listed there by code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [ROOT / "src/driftd" / f for f in ("cli.py", "baseline_cli.py", "alerts_cli.py",
                                          "keys_cli.py")]  # fmt: skip
PAGE = ROOT / "docs/troubleshooting.md"


def wording(node: ast.expr) -> str | None:
    """A message as a pattern: its literal stretches in order, anything between them.

    ``f"the daemon at {url} answered {status}: {detail}"`` is found in the page
    as ``the daemon at http://… answered 500: …``. None when nothing is literal
    (the message passes on another component's text).
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        parts = [node.value]
    elif isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values
                 if isinstance(v, ast.Constant) and isinstance(v.value, str)]  # fmt: skip
    else:
        return None
    pieces = [" ".join(p.split()).strip(" ;:,()'\"") for p in parts]
    pieces = [p for p in pieces if p]
    if sum(map(len, pieces)) < 6:
        return None
    return ".{0,120}?".join(re.escape(p) for p in pieces)


def messages() -> list[tuple[str, str]]:
    """(where, wording) of every error message the CLI modules word themselves."""
    found = []
    for path in CLI:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            candidates: list[ast.expr] = []
            if name.endswith("Error") and node.args and name != "ConfigError":
                candidates.append(node.args[0])
            if name == "ConfigError" and node.args and isinstance(node.args[0], ast.List):
                for problem in node.args[0].elts:
                    if isinstance(problem, ast.Tuple) and len(problem.elts) == 3:
                        candidates.append(problem.elts[2])  # the fix
            stderr = any(k.arg == "file" and ast.unparse(k.value) == "sys.stderr"
                         for k in node.keywords)  # fmt: skip
            if name == "print" and stderr and node.args:
                candidates.append(node.args[0])
            for candidate in candidates:
                text = wording(candidate)
                if text is not None:
                    found.append((f"{path.name}:{node.lineno}", text))
    return found


def test_the_cli_words_many_messages() -> None:
    assert len(messages()) >= 15  # the scan finds them (it would pass vacuously otherwise)


@pytest.mark.parametrize("where, text", messages(), ids=lambda v: re.sub(r"\W+", "_", v)[:40])
def test_each_message_is_in_the_troubleshooting_page(where: str, text: str) -> None:
    page = " ".join(PAGE.read_text().replace("`", "").split())
    assert re.search(text, page), f"{where}: {text!r} is not in docs/troubleshooting.md"
