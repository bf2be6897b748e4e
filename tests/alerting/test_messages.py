"""Notification text and type: severity decides the Apprise notify type; resolved is success."""

from __future__ import annotations

import pytest

from driftd.alerting.messages import render_notification
from driftd.storage.alert_records import AlertRecord


def _alert(severity: str, state: str = "firing", feature: str = "income") -> AlertRecord:
    return AlertRecord(
        fingerprint=f"{feature}-{severity}",
        labels={"alertname": "Drift", "model": "m", "feature": feature, "metric": "psi",
                "severity": severity},
        annotations={"summary": "moved", "runbook_url": "https://runbooks.test/x"},
        state=state,  # type: ignore[arg-type]
        active_ms=1_800_000_000_000,
        updated_ms=1_800_000_000_000,
        value=0.3,
        detail={"window_id": 7, "n": 1000, "window_end_ms": 1_800_000_060_000,
                "baseline_version": "v1"},
        resolved_ms=1_800_000_600_000 if state == "resolved" else None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("severities", "kind"),
    [(["info"], "info"), (["warning", "info"], "warning"), (["warning", "critical"], "failure")],
)
def test_notify_type_follows_the_worst_firing_severity(severities: list[str], kind: str) -> None:
    firing = [_alert(s, feature=f"f{i}") for i, s in enumerate(severities)]
    title, _, notify_type = render_notification({"model": "m"}, firing, [], "http://d")
    assert notify_type == kind and title.startswith(f"[FIRING:{len(severities)}] model=m")


def test_only_resolved_is_success_and_says_from_when_to_when() -> None:
    title, body, notify_type = render_notification(
        {"model": "m"}, [], [_alert("critical", "resolved")], "http://d/"
    )
    assert (title, notify_type) == ("[RESOLVED] model=m", "success")
    assert "from 2027-01-15T08:00:00Z to 2027-01-15T08:10:00Z" in body
    assert "window 7 (1000 events, ended 2027-01-15T08:01:00Z), baseline v1" in body
    assert "runbook: https://runbooks.test/x" in body
    # the drift series from an hour before the alert started
    assert "drift: http://d/v1/models/m/drift?feature=income&metric=psi&from=1799996400000" in body
    assert "0.3" in body
