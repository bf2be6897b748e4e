"""``driftd alerts``: list alerts, create, list and expire silences, through a daemon's API.

The API is the one the settings name (``api.host``/``api.port``) unless
``--api`` gives another; alert state lives in the control store, which the
running daemon owns.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from driftd.config import Settings
from driftd.errors import ConfigError, RequestRefusedError, StorageUnavailableError

__all__ = ["add_alerts_parser", "parse_matcher", "run_alerts"]

_OPS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
_MATCHER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)(.*)$")


def parse_matcher(text: str) -> dict[str, Any]:
    """``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

    >>> parse_matcher("feature=~inc.*")
    {'name': 'feature', 'value': 'inc.*', 'is_regex': True, 'is_equal': True}
    """
    match = _MATCHER.match(text)
    if match is None:
        raise ConfigError([("--match", text, "use name=value, name!=value, name=~regex")])
    name, op, value = match.groups()
    return {"name": name, "value": value, "is_regex": "~" in op, "is_equal": op[0] == "="}


def add_alerts_parser(sub: Any, parents: Sequence[Any] = ()) -> None:
    """The ``alerts`` verb; ``parents`` carry the options every verb takes (``--config``)."""
    alerts = sub.add_parser(
        "alerts", help="list alerts; create, list and expire silences", parents=list(parents)
    )
    asub = alerts.add_subparsers(dest="action", required=True)
    listing = asub.add_parser("list", help="list alerts", parents=list(parents))
    listing.add_argument("--state", choices=["pending", "firing", "resolved"])
    listing.add_argument("--model")
    silence = asub.add_parser(
        "silence", help="mute alerts matching every --match", parents=list(parents)
    )
    silence.add_argument("--match", action="append", required=True, metavar="NAME=VALUE")
    silence.add_argument("--duration", default="2h", help="e.g. 30m, 2h (default 2h)")
    silence.add_argument("--comment", default="")
    silence.add_argument("--by", default="driftd-cli", help="who creates it")
    asub.add_parser("silences", help="list silences", parents=list(parents))
    expire = asub.add_parser("expire", help="expire a silence now", parents=list(parents))
    expire.add_argument("silence_id")
    for cmd in asub.choices.values():
        cmd.add_argument("--api", help="a daemon's API URL (default: from the settings)")


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code >= 500:
            raise StorageUnavailableError(f"the API answered {response.status_code}: {detail}")
        raise RequestRefusedError(response.status_code, str(detail))
    return response.json() if response.content else None


def run_alerts(settings: Settings, args: argparse.Namespace) -> int:
    host = settings.api.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = args.api or f"http://{host}:{settings.api.port}"
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
            return _run(client, args)
    except httpx.HTTPError as exc:
        raise StorageUnavailableError(
            f"no daemon answers at {url} ({type(exc).__name__}); start one or pass --api"
        ) from None


def _run(client: httpx.Client, args: argparse.Namespace) -> int:
    if args.action == "list":
        params = {k: v for k, v in (("state", args.state), ("model", args.model)) if v}
        rows = _check(client.get("/v1/alerts", params=params))
        print(
            f"{'STATE':<9} {'SEVERITY':<9} {'ALERT':<20} {'MODEL/FEATURE':<32} {'VALUE':>8}  SINCE"
        )
        for a in rows:
            lab = a["labels"]
            where = f"{lab.get('model')}/{lab.get('feature')}"
            state = a["state"] + ("*" if a["muted"] else "")
            print(
                f"{state:<9} {lab.get('severity', ''):<9} {lab.get('alertname', ''):<20} "
                f"{where:<32} {a['value']:>8.4g}  {_when(a['since'])}"
            )
        return 0
    if args.action == "silence":
        body = {
            "matchers": [parse_matcher(m) for m in args.match],
            "duration": args.duration,
            "created_by": args.by,
            "comment": args.comment,
        }
        made = _check(client.post("/v1/silences", json=body))
        print(f"silence {made['id']} until {_when(made['ends_at'])}")
        return 0
    if args.action == "silences":
        for s in _check(client.get("/v1/silences")):
            matchers = ",".join(
                f"{m['name']}{_OPS[(m['is_regex'], m['is_equal'])]}{m['value']}"
                for m in s["matchers"]
            )
            until = _when(s["ends_at"])
            print(f"{s['id']}  {s['state']:<8} until {until}  {matchers}  {s['comment']}")
        return 0
    _check(client.delete(f"/v1/silences/{args.silence_id}"))
    print(f"silence {args.silence_id} expired")
    return 0
