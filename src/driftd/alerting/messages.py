"""Notification text: what drifted, by how much, since when, and where to look.

Bodies carry labels, values, window coordinates and links, never event
payloads. The notify type follows the worst firing severity (critical →
``failure``, warning → ``warning``, info → ``info``); a message with only
resolved alerts is ``success``.

>>> from driftd.storage.alert_records import AlertRecord
>>> a = AlertRecord("f", {"alertname": "DriftDetected", "model": "m", "feature": "income",
...     "metric": "psi", "severity": "critical"}, {"summary": "income moved"}, "firing",
...     active_ms=0, updated_ms=0, value=0.4123, detail={"window_id": 3, "n": 1000,
...     "window_end_ms": 60_000, "baseline_version": "v1"}, fired_ms=0)
>>> title, body, kind = render_notification({"model": "m"}, [a], [], "http://d:8470")
>>> title, kind
('[FIRING:1] model=m (critical)', 'failure')
>>> print(body.splitlines()[1])
- DriftDetected: psi of income on m = 0.412 (critical), since 1970-01-01T00:00:00Z
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

from driftd.storage.alert_records import AlertRecord

__all__ = ["NOTIFY_TYPES", "drift_link", "iso", "render_notification"]

NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info", "resolved": "success"}
_RANK = {"info": 0, "warning": 1, "critical": 2}
_HOUR_MS = 3_600_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def drift_link(base: str, alert: AlertRecord) -> str:
    """The drift API series behind an alert, from an hour before it started."""
    labels = alert.labels
    query = {
        "feature": labels.get("feature", ""),
        "metric": labels.get("metric", ""),
        "from": str(max(0, alert.active_ms - _HOUR_MS)),
    }
    return f"{base.rstrip('/')}/v1/models/{labels.get('model', '')}/drift?{urlencode(query)}"


def _line(alert: AlertRecord, base: str, resolved: bool) -> list[str]:
    lab = alert.labels
    what = f"{lab.get('metric')} of {lab.get('feature') or '(model)'} on {lab.get('model')}"
    if lab.get("segment"):
        what += f" [{lab['segment']}]"
    when = f"since {iso(alert.active_ms)}"
    if resolved and alert.resolved_ms is not None:
        when = f"from {iso(alert.active_ms)} to {iso(alert.resolved_ms)}"
    lines = [
        f"- {lab.get('alertname')}: {what} = {alert.value:.3g} ({lab.get('severity')}), {when}"
    ]
    d = alert.detail
    if d:
        lines.append(
            f"  window {d.get('window_id')} ({d.get('n')} events, ended "
            f"{iso(int(str(d.get('window_end_ms', 0))))}), baseline {d.get('baseline_version')}"
        )
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            lines.append(f"  {alert.annotations[key]}")
    if alert.annotations.get("runbook_url"):
        lines.append(f"  runbook: {alert.annotations['runbook_url']}")
    lines.append(f"  drift: {drift_link(base, alert)}")
    return lines


def render_notification(
    group: Mapping[str, str],
    firing: Sequence[AlertRecord],
    resolved: Sequence[AlertRecord],
    external_url: str,
) -> tuple[str, str, str]:
    """``(title, body, Apprise notify type)`` for one group's message."""
    scope = " ".join(f"{k}={v}" for k, v in sorted(group.items()) if v)
    if firing:
        worst = max(
            (a.labels.get("severity", "info") for a in firing), key=lambda s: _RANK.get(s, 0)
        )
        title = f"[FIRING:{len(firing)}] {scope} ({worst})"
        notify_type = NOTIFY_TYPES.get(worst, "info")
    else:
        title = f"[RESOLVED] {scope}"
        notify_type = NOTIFY_TYPES["resolved"]
    lines: list[str] = []
    if firing:
        lines.append(f"Firing ({len(firing)}):")
        for alert in firing:
            lines.extend(_line(alert, external_url, resolved=False))
    if resolved:
        lines.append(f"Resolved ({len(resolved)}):")
        for alert in resolved:
            lines.extend(_line(alert, external_url, resolved=True))
    return title, "\n".join(lines), notify_type
