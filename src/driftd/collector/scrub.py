"""PII scrubbing: pure functions applied to every decoded event before anything is written.

Rules match key names at any depth (top level, ``features``, ``segments``,
anything nested), case-insensitively and ignoring ``_``/``-``/spaces, so
``API-Key``, ``api_key`` and ``apiKey`` are one name. Actions:

* ``drop``: the key and its value are removed;
* ``hash``: the value is replaced by ``HMAC-SHA256(key=secret, msg=str(value))``
  in hex — keyed, so a dictionary attack on the stored hashes needs the secret;
  never an unsalted hash;
* ``keep``: kept as is, also overriding the default sensitive list.

Unless ``default_sensitive`` is off, keys whose normalised name equals one of
:data:`SENSITIVE_NAMES` or contains one of :data:`SENSITIVE_FRAGMENTS` are
dropped unless a rule keeps them.

Then values: every string left (and every key), at any depth, goes through
:class:`~driftd.collector.pii.Redactor` — e-mail, phone, card, SSN, IBAN, IP,
JWT and secrets are masked by default (``values`` sets ``drop``, ``mask``,
``hash`` or ``keep`` per type). A value whose type is ``drop`` loses its
field (or its list item); a key holding PII is masked or hashed like a value.
Numbers and booleans are never looked at, and a clean string is remembered, so
repeated categories cost one set lookup.

>>> s = Scrubber({"user_id": "hash"}, hmac_key=b"k" * 16)
>>> out = s.scrub({"model": "m", "password": "x", "features": {"user_id": 7, "Email": "a@b"}})
>>> sorted(out), sorted(out["features"]), len(out["features"]["user_id"])
(['features', 'model'], ['user_id'], 64)
>>> s.scrub({"features": {"note": "call +1 415 555 2671", "bob@example.com": 1}})["features"]
{'note': 'call [PHONE]', '[EMAIL]': 1}
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Literal

from driftd.collector.pii import DROP, Redactor, ValueAction, is_placeholder
from driftd.errors import DecodeError

__all__ = ["ID_FIELDS", "SENSITIVE_FRAGMENTS", "SENSITIVE_NAMES", "Scrubber", "normalise_key"]

Action = Literal["drop", "hash", "keep"]

#: Normalised names dropped by default when they match exactly.
SENSITIVE_NAMES = frozenset(
    {
        "ssn", "socialsecuritynumber", "email", "emailaddress", "mail", "phone",
        "phonenumber", "mobile", "telephone", "cvv", "cvc", "iban", "pin", "auth",
        "cookie", "setcookie", "dob", "dateofbirth", "birthdate", "passport",
        "passportnumber", "taxid", "nationalid", "address", "streetaddress", "ipaddress",
    }
)  # fmt: skip
#: Fragments that make a normalised name sensitive wherever they appear in it.
SENSITIVE_FRAGMENTS = (
    "password", "passwd", "secret", "token", "apikey", "authorization", "credential",
    "creditcard", "cardnumber", "privatekey", "sessionid",
)  # fmt: skip

_KEEP, _DROP, _HASH, _RENAME = "keep", "drop", "hash", "rename"
#: Top-level identifiers: random tokens are what they look like, not secrets.
ID_FIELDS = frozenset({"event_id", "request_id"})
_CACHE_LIMIT = 65_536
MAX_DEPTH = 64
"""Deeper events are refused (``too_deep``) before their walk can exhaust the stack."""
_TRANSLATE = str.maketrans("", "", "_- .")


def normalise_key(key: str) -> str:
    """Lower-case and strip separators: ``"API-Key"`` → ``"apikey"``.

    >>> normalise_key("Credit_Card Number")
    'creditcardnumber'
    """
    return key.lower().translate(_TRANSLATE)


class Scrubber:
    """Applies per-field rules and the default sensitive list to decoded events."""

    def __init__(
        self,
        rules: Mapping[str, Action] | None = None,
        *,
        hmac_key: bytes | None = None,
        default_sensitive: bool = True,
        values: Mapping[str, ValueAction] | None = None,
    ) -> None:
        self.rules = {normalise_key(k): v for k, v in (rules or {}).items()}
        for key, action in self.rules.items():
            if action not in (_KEEP, _DROP, _HASH):
                raise ValueError(f"rules[{key!r}] must be drop, hash or keep, got {action!r}")
        if _HASH in self.rules.values() and not hmac_key:
            raise ValueError("hmac_key is required when a rule hashes (never an unsalted hash)")
        self.hmac_key = hmac_key
        self.default_sensitive = default_sensitive
        self.redactor = Redactor(values or {}, hmac_key=hmac_key)
        self._actions: dict[str, str] = {}
        self._plans: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}

    def action(self, key: str) -> str:
        """What happens to values under ``key``: ``keep``, ``drop`` or ``hash``."""
        cached = self._actions.get(key)
        if cached is not None:
            return cached
        norm = normalise_key(key)
        action: str | None = self.rules.get(norm)
        if action is None:
            sensitive = self.default_sensitive and _is_sensitive(norm) and not is_placeholder(key)
            action = _DROP if sensitive else _KEEP
        if len(self._actions) >= _CACHE_LIMIT:
            self._actions.clear()
        self._actions[key] = action
        return action

    def hash_value(self, value: Any) -> str:
        """Keyed HMAC-SHA256 of the value's text, in hex."""
        assert self.hmac_key is not None  # guaranteed by __init__ when a rule hashes
        text = value if isinstance(value, str) else _text(value)
        return hmac.new(self.hmac_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def scrub(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A scrubbed copy when anything changes; the same object when nothing does."""
        return self._scrub_dict(obj, top=True)

    def changes_keys(self, keys: tuple[Any, ...]) -> bool:
        """Whether scrubbing an object with exactly these keys drops, hashes or renames one
        (decided once per key set, as :meth:`scrub` does)."""
        return bool(self._plan(keys))

    def dropped_keys(self, keys: tuple[Any, ...]) -> frozenset[str] | None:
        """The keys that scrubbing an object with exactly these keys drops, when dropping
        is all its key plan does (None when it hashes or renames a key). A dropped
        key's value is never looked at."""
        plan = self._plan(keys)
        if any(action != _DROP for _, action in plan):
            return None
        return frozenset(key for key, _ in plan)

    def _plan(self, keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
        """The keys of one key set that are dropped or hashed (cached per key set)."""
        plan = self._plans.get(keys)
        if plan is None:
            plan = tuple(
                (k, act)
                for k in keys
                if isinstance(k, str) and (act := self._key_action(k)) != _KEEP
            )
            if len(self._plans) >= _CACHE_LIMIT:
                self._plans.clear()
            self._plans[keys] = plan
        return plan

    def _key_action(self, key: str) -> str:
        action = self.action(key)
        if action == _KEEP and self.redactor.redact(key) is not key:
            return _RENAME
        return action

    def _scrub_dict(self, obj: dict[str, Any], top: bool = False, depth: int = 0) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise DecodeError("too_deep", f"objects and lists nest deeper than {MAX_DEPTH}")
        # Events of one model share their key sets, so the verdict on the keys is
        # looked up once per key set; then values are walked (strings redacted).
        out: dict[str, Any] | None = None
        plan = self._plan(tuple(obj))
        if plan:
            out = dict(obj)
            for key, action in plan:
                if action == _DROP:
                    del out[key]
                elif action == _RENAME:
                    value = out.pop(key)
                    new_key = self.redactor.redact(key)
                    if new_key is not DROP:
                        out[str(new_key)] = value
                else:
                    value = out[key]
                    out[key] = None if value is None else self.hash_value(value)
        redact = self.redactor.redact
        for key, value in list((obj if out is None else out).items()):
            kind = type(value)
            if kind is str:
                new = redact(value, ids=top and key in ID_FIELDS)
            elif kind is dict or kind is list:
                new = self._scrub_value(value, depth + 1)
            else:
                continue
            if new is not value:
                if out is None:
                    out = dict(obj)
                if new is DROP:
                    del out[key]
                else:
                    out[key] = new
        return obj if out is None else out

    def _scrub_value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.redactor.redact(value)
        if isinstance(value, dict):
            return self._scrub_dict(value, depth=depth)
        if isinstance(value, list):
            if depth > MAX_DEPTH:
                raise DecodeError("too_deep", f"objects and lists nest deeper than {MAX_DEPTH}")
            items = [self._scrub_value(item, depth + 1) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return [item for item in items if item is not DROP]
        return value


def _is_sensitive(norm: str) -> bool:
    return norm in SENSITIVE_NAMES or any(frag in norm for frag in SENSITIVE_FRAGMENTS)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 7 and 7.0 hash alike, as JSON does not tell them apart
    return str(value)
