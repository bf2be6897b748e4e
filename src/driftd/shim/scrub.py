"""Key-based scrubbing inside the serving container, before an event leaves it.

A deliberately small cousin of :mod:`driftd.collector.scrub` (which cannot be
imported here without pulling the collector's dependencies): rules name keys
of ``features`` and ``segments``, matched case-insensitively and ignoring
``_``/``-``/``.``/spaces; ``drop`` removes the key, ``hash`` replaces its value
with HMAC-SHA256 under a secret key (hex), the same text rule as driftd's, so
a value hashed here and one hashed by driftd with the same key agree. driftd
scrubs again on arrival with its own rules and default sensitive list.

>>> s = FieldScrubber(drop=["Email"], hash=["user_id"], hmac_key=b"k" * 16)
>>> out = s.scrub_features({"email": "a@b", "user-id": 7, "age": 41})
>>> sorted(out), len(out["user-id"])
(['age', 'user-id'], 64)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

__all__ = ["FieldScrubber"]

_TRANSLATE = str.maketrans("", "", "_- .")


def _norm(key: str) -> str:
    return key.lower().translate(_TRANSLATE)


class FieldScrubber:
    """Drops or keyed-hashes named feature and segment keys."""

    def __init__(
        self,
        *,
        drop: Iterable[str] = (),
        hash: Iterable[str] = (),
        hmac_key: bytes | None = None,
    ) -> None:
        self.drop = frozenset(_norm(k) for k in drop)
        self.hash = frozenset(_norm(k) for k in hash)
        if self.hash and not hmac_key:
            raise ValueError("hmac_key is required when keys are hashed (never an unsalted hash)")
        if self.drop & self.hash:
            raise ValueError(f"keys both dropped and hashed: {sorted(self.drop & self.hash)}")
        self.hmac_key = hmac_key
        self._verdicts: dict[str, str] = {}

    def _verdict(self, key: str) -> str:
        verdict = self._verdicts.get(key)
        if verdict is None:
            norm = _norm(key)
            verdict = "drop" if norm in self.drop else "hash" if norm in self.hash else ""
            if len(self._verdicts) < 65_536:
                self._verdicts[key] = verdict
        return verdict

    def scrub_features(self, values: dict[str, Any]) -> dict[str, Any]:
        """A scrubbed copy when a rule applies, else the same dict."""
        out: dict[str, Any] | None = None
        for key in values:
            verdict = self._verdict(key)
            if not verdict:
                continue
            if out is None:
                out = dict(values)
            if verdict == "drop":
                del out[key]
            elif out[key] is not None:
                out[key] = self._hash(out[key])
        return values if out is None else out

    def _hash(self, value: Any) -> str:
        assert self.hmac_key is not None  # checked in __init__
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value)
        return hmac.new(self.hmac_key, text.encode("utf-8"), hashlib.sha256).hexdigest()
