"""``driftd keys create|list|revoke``: API keys in the control store.

The control store (SQLite or PostgreSQL) may be opened beside a running daemon,
which picks new and revoked keys up within ``api.key_cache_s``. A key is
printed once, when created; only its SHA-256 digest is stored.
"""

from __future__ import annotations

import argparse

from driftd.config import Settings
from driftd.storage.apikeys import SqlApiKeys

__all__ = ["run_keys"]


def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    from driftd.services import _ensure_dir
    from driftd.storage.control import ControlStore

    url = settings.storage.control_url
    _ensure_dir(url, "sqlite:///")
    with ControlStore(url) as control:
        control.migrate()
        keys = SqlApiKeys(control)
        if args.action == "create":
            try:
                token, key = keys.create(args.name, args.scope, args.model or [])
            except ValueError as exc:
                print(f"driftd: {exc}")
                return 2
            print(f"created {key.key_id} ({key.name}): scopes {','.join(key.scopes)}", end="")
            print(f", models {','.join(key.models)}" if key.models else ", every model")
            print("the key (shown once, keep it secret):")
            print(token)
            return 0
        if args.action == "list":
            print(f"{'id':<22} {'name':<20} {'scopes':<18} {'models':<24} state")
            for k in keys.list():
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                models = ",".join(k.models) or "*"
                print(f"{k.key_id:<22} {k.name:<20} {','.join(k.scopes):<18} {models:<24} {state}")
            return 0
        if keys.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"driftd: no active key {args.key_id!r}")
        return 1
