"""Apprise to real receivers: ``json://`` to a local HTTP server, ``mailto://`` to aiosmtpd."""

from __future__ import annotations

import email
import json
from email.message import Message
from pathlib import Path

import pytest

from driftd.alerting.notify import AppriseNotifier
from driftd.alerting.service import Alerting
from driftd.metrics import Metrics
from driftd.storage import ControlStoreProtocol
from tests.alerting.conftest import FakeClock, alerting_settings, result
from tests.alerting.receivers import http_receiver, smtp_receiver

SEC = 1_000
HOUR = 3600 * SEC


def _subject(envelope: object) -> str:
    msg: Message = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
    return str(msg["Subject"])


# Apprise throttles its e-mail plugin to one message per 5.5 s of wall time: run this once.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_one_grouped_message_per_route_a_repeat_and_one_resolved(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    with http_receiver() as web, smtp_receiver() as smtp:
        settings = alerting_settings(
            routes=[
                {
                    "name": "pager",
                    "severities": ["critical"],
                    "urls": [f"json://127.0.0.1:{web.port}/p"],
                },
                {
                    "name": "mail",
                    "severities": ["warning", "critical"],
                    "urls": [smtp.apprise_url()],
                },
            ]
        )
        metrics = Metrics()
        a = Alerting(settings, store, metrics, clock=clock)

        def step(ms: int, results: list | None = None) -> None:
            if results:
                a.sink.publish(results)
            clock.advance(ms)
            a.tick()
            a.outbox.run_once()

        step(0, [result("income", 0.41), result("age", 0.33), result("country", 0.12, "warning")])
        step(30 * SEC)
        assert len(web.requests) == 1 and len(smtp.messages) == 1
        posted = json.loads(web.requests[0].body)
        assert posted["type"] == "failure"
        assert posted["title"].startswith("[FIRING:2]")  # pager: the two critical ones
        assert "psi of income on credit-risk = 0.41 (critical)" in posted["message"]
        assert "country" not in posted["message"]
        assert _subject(smtp.messages[0]).startswith("[FIRING:3]")  # mail: all three
        # the drift holds for 4 hours: exactly one repeat on each route
        for w in range(2, 50):
            step(
                5 * 60 * SEC,
                [
                    result("income", 0.41, window=w),
                    result("age", 0.33, window=w),
                    result("country", 0.12, "warning", window=w),
                ],
            )
        assert len(web.requests) == 2 and len(smtp.messages) == 2
        # it resolves: one resolved message on each route, then silence
        step(0, [result(f, 0.01, "ok", window=60) for f in ("income", "age", "country")])
        step(5 * 60 * SEC)
        for _ in range(3):
            step(4 * HOUR)
        assert len(web.requests) == 3 and len(smtp.messages) == 3
        resolved = json.loads(web.requests[2].body)
        assert resolved["type"] == "success" and resolved["title"].startswith("[RESOLVED]")
        assert _subject(smtp.messages[2]).startswith("[RESOLVED]")
        assert "Resolved (3):" in smtp.messages[2].content.decode()
        assert (
            metrics.registry.get_sample_value(
                "driftd_notifications_total", {"route": "pager", "outcome": "delivered"}
            )
            == 3.0
        )


def test_a_failing_receiver_is_retried_with_backoff_and_recorded(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    with http_receiver(script=[500, 503]) as web:
        settings = alerting_settings(
            routes=[
                {
                    "name": "pager",
                    "severities": ["critical"],
                    "urls": [f"json://127.0.0.1:{web.port}/p"],
                }
            ],
            outbox={"initial": "10s", "max": "1m"},
        )
        metrics = Metrics()
        a = Alerting(settings, store, metrics, clock=clock)
        a.sink.publish([result("income", 0.4)])
        a.tick()
        clock.advance(30 * SEC)
        a.tick()
        a.outbox.run_once()
        assert len(web.requests) == 1
        (item,) = store.list_outbox(kind="notification")
        assert item.state == "pending" and 8 * SEC <= item.next_attempt_ms - clock.now <= 12 * SEC
        a.outbox.run_once()
        assert len(web.requests) == 1  # not due yet: backoff, not a busy loop
        clock.advance(12 * SEC)
        a.outbox.run_once()
        clock.advance(24 * SEC)
        a.outbox.run_once()
        assert [r.status for r in web.requests] == [500, 503, 200]
        (item,) = store.list_outbox(kind="notification")
        assert item.state == "delivered" and item.attempts == 3
        assert [x.ok for x in store.list_attempts(item.id)] == [False, False, True]
        sample = metrics.registry.get_sample_value
        assert sample("driftd_notifications_total", {"route": "pager", "outcome": "retry"}) == 2.0


def test_a_refused_target_fails_without_a_request(
    store: ControlStoreProtocol, clock: FakeClock
) -> None:
    with http_receiver() as web:
        settings = alerting_settings(
            routes=[
                {
                    "name": "pager",
                    "severities": ["critical"],
                    "urls": [f"json://localhost:{web.port}/p"],
                }
            ]
        )
        a = Alerting(settings, store, Metrics(), clock=clock)
        a.sink.publish([result("income", 0.4)])
        a.tick()
        clock.advance(30 * SEC)
        a.tick()
        # the settings allowed loopback when validated; the deployment changed its mind
        a.outbox.notifier.settings = settings.model_copy(update={"allow_private_targets": False})
        a.outbox.run_once()
        (item,) = store.list_outbox(kind="notification")
        assert item.state == "failed" and "loopback" in item.last_error
        assert web.requests == []


def test_routes_can_select_tags_of_an_apprise_config_file(tmp_path: Path) -> None:
    with http_receiver() as team, http_receiver() as other:
        config = tmp_path / "apprise.yml"
        config.write_text(
            "urls:\n"
            f"  - json://127.0.0.1:{team.port}/team:\n      - tag: ml-team\n"
            f"  - json://127.0.0.1:{other.port}/other:\n      - tag: finance\n"
        )
        settings = alerting_settings(
            apprise_config=str(config),
            routes=[{"name": "team", "severities": ["critical"], "tags": ["ml-team"]}],
        )
        AppriseNotifier(settings).send("team", "title", "body", "warning")
        assert [json.loads(r.body)["type"] for r in team.requests] == ["warning"]
        assert other.requests == []
