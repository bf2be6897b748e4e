"""Label sets, fingerprints and aggregation-group keys, as Alertmanager has them.

>>> fp = fingerprint({"alertname": "Drift", "model": "m", "severity": "critical"})
>>> fp == fingerprint({"severity": "critical", "model": "m", "alertname": "Drift"}), len(fp)
(True, 16)
>>> group_key("oncall", {"alertname": "Drift", "model": "m", "feature": "x"}, ["model"])
('oncall|model="m"', {'model': 'm'})
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

__all__ = ["fingerprint", "group_key"]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable hash of a label set (order does not matter)."""
    h = hashlib.sha256()
    for name in sorted(labels):
        h.update(name.encode())
        h.update(b"\xff")
        h.update(labels[name].encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


def group_key(
    route: str, labels: Mapping[str, str], group_by: Sequence[str]
) -> tuple[str, dict[str, str]]:
    """The aggregation group of an alert on a route, and that group's labels."""
    picked = {name: labels.get(name, "") for name in group_by}
    text = ",".join(f'{name}="{picked[name]}"' for name in sorted(picked))
    return f"{route}|{text}", picked
