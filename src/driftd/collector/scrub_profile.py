"""Baselines go through the event rules, so training data and live events compare alike.

A feature a key rule drops is left out of the baseline; one a rule hashes has
its categories replaced by the same keyed HMAC the live values get (a numeric
column hashed live becomes text, so its numeric baseline is left out); every
category and column name goes through the value detectors (masked, hashed or
dropped as configured). Categories that become one (two e-mails, both
``[EMAIL]``) add up; a dropped category's mass moves to "other". The
fingerprint is recomputed from the scrubbed content.

>>> from driftd.collector.scrub import Scrubber
>>> col = {"kind": "categorical", "name": "contact", "categories": ["a@b.io", "c@d.io", "DE"],
...        "proportions": [0.5, 0.25, 0.25, 0.0], "known": ["a@b.io", "c@d.io", "DE"],
...        "count": 4, "null_rate": 0.0}
>>> out = scrub_profile({"model": "m", "features": {"contact": col}}, Scrubber())
>>> out["features"]["contact"]["categories"], out["features"]["contact"]["proportions"]
(['[EMAIL]', 'DE'], [0.75, 0.25, 0.0])
"""

from __future__ import annotations

from typing import Any

from driftd.collector.pii import DROP
from driftd.collector.scrub import Scrubber

__all__ = ["scrub_profile"]


def scrub_profile(data: dict[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    """A baseline profile (``to_dict()`` form) with the scrubber's rules applied."""
    out = {k: v for k, v in data.items() if k != "fingerprint"}
    features: dict[str, Any] = {}
    for name, column in (data.get("features") or {}).items():
        action = scrubber.action(name)
        new_name = scrubber.redactor.redact(name)
        if action == "drop" or new_name is DROP:
            continue
        scrubbed = _column(column, scrubber, hashed=action == "hash")
        if scrubbed is not None:
            features[str(new_name)] = {**scrubbed, "name": str(new_name)}
    out["features"] = features
    for key in ("prediction", "label"):
        if isinstance(data.get(key), dict):
            out[key] = _column(data[key], scrubber, hashed=False)
    return out


def _column(column: dict[str, Any], scrubber: Scrubber, *, hashed: bool) -> dict[str, Any] | None:
    if column.get("kind") != "categorical":
        return None if hashed else column

    def mapped(category: str) -> str | object:
        return scrubber.hash_value(category) if hashed else scrubber.redactor.redact(category)

    proportions = column["proportions"]
    merged: dict[str, float] = {}
    other = proportions[-1]
    for category, share in zip(column["categories"], proportions[:-1], strict=True):
        new = mapped(category)
        if new is DROP:
            other += share
        else:
            merged[str(new)] = merged.get(str(new), 0.0) + share
    known = column.get("known")
    if known is not None:
        known = list(dict.fromkeys(str(n) for c in known if (n := mapped(c)) is not DROP))
    return {
        **column,
        "categories": list(merged),
        "proportions": [*merged.values(), other],
        "known": known,
    }
