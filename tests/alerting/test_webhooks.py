"""Retraining webhooks to a real HTTP receiver, verified as a Standard Webhooks consumer would.

The verifier below is written from the Standard Webhooks specification
(github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
the signed content is ``{webhook-id}.{webhook-timestamp}.{body}``, the key is
the base64 part of the ``whsec_`` secret, the signature is base64
HMAC-SHA256, the header holds space-separated ``v1,<sig>`` entries, and the
timestamp must be within five minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest

from driftd.alerting.service import Alerting
from driftd.alerting.webhooks import SVIX_SCHEDULE_MS
from driftd.metrics import Metrics
from driftd.storage import ControlStoreProtocol
from tests.alerting.conftest import FakeClock, alerting_settings, result
from tests.alerting.receivers import Request, http_receiver

SEC = 1_000
HOUR = 3600 * SEC
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
TOLERANCE_S = 5 * 60


def verify(secret: str, request: Request, now_s: int) -> dict[str, object]:
    """Standard Webhooks verification; returns the parsed body or raises ValueError."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    if abs(now_s - int(timestamp)) > TOLERANCE_S:
        raise ValueError("timestamp outside the tolerance")
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in request.headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            body: dict[str, object] = json.loads(request.body)
            return body
    raise ValueError("no matching signature")


def _hook(url: str, **extra: object) -> dict[str, object]:
    return {"name": "retrain", "url": url, "secret": SECRET, **extra}


def _fire(a: Alerting, clock: FakeClock, feature: str = "income", window: int = 1) -> None:
    a.sink.publish([result(feature, 0.4, window=window)])
    a.tick()


@pytest.fixture
def wall_clock() -> FakeClock:
    """A fake clock that starts at the real time (signatures carry timestamps)."""
    return FakeClock(int(time.time() * 1000))


def test_three_failures_then_one_signed_delivery_with_one_id(
    store: ControlStoreProtocol, wall_clock: FakeClock
) -> None:
    clock = wall_clock
    with http_receiver(script=[500, 500, 500]) as rx:
        metrics = Metrics()
        a = Alerting(
            alerting_settings(routes=[], webhooks=[_hook(rx.url + "/hook")]),
            store,
            metrics,
            clock=clock,
        )
        _fire(a, clock)
        for delay in SVIX_SCHEDULE_MS[:4]:
            clock.advance(delay)
            a.outbox.run_once()
            a.outbox.run_once()  # nothing more is due until the next step of the schedule
        assert [r.status for r in rx.requests] == [500, 500, 500, 200]
        assert len({r.headers["webhook-id"] for r in rx.requests}) == 1
        (ok,) = rx.ok()
        body = verify(SECRET, ok, clock.now // 1000)
        assert body["model"] == "credit-risk" and body["type"] == "driftd.retrain"
        assert str(body["reason"]).startswith("DriftDetected fired critical: psi of income = 0.4")
        assert body["windows"] == [a.store.list_alerts()[0].detail]
        tampered = Request(
            ok.path, ok.headers, ok.body.replace(b"credit-risk", b"credit-riSk"), 200
        )
        with pytest.raises(ValueError, match="signature"):
            verify(SECRET, tampered, clock.now // 1000)
        (item,) = store.list_outbox(kind="webhook")
        assert (item.id, item.state, item.attempts) == (ok.headers["webhook-id"], "delivered", 4)
        clock.advance(SVIX_SCHEDULE_MS[4])
        a.outbox.run_once()
        assert len(rx.requests) == 4
        sample = metrics.registry.get_sample_value
        labels = {"webhook": "retrain", "outcome": "retry"}
        assert sample("driftd_webhook_deliveries_total", labels) == 3.0


def test_cooldown_holds_two_triggers_to_one_webhook(
    store: ControlStoreProtocol, wall_clock: FakeClock
) -> None:
    clock = wall_clock
    with http_receiver() as rx:
        a = Alerting(
            alerting_settings(routes=[], webhooks=[_hook(rx.url)]), store, Metrics(), clock=clock
        )
        _fire(a, clock, "income")
        clock.advance(HOUR)
        _fire(a, clock, "age", window=2)  # a second critical alert on the same model
        a.outbox.run_once()
        assert len(rx.requests) == 1
        clock.advance(24 * HOUR)
        _fire(a, clock, "country", window=3)  # the cooldown is over
        a.outbox.run_once()
        assert len(rx.requests) == 2
        keys = [json.loads(r.body)["idempotency_key"] for r in rx.requests]
        assert len(set(keys)) == 2


def test_warning_alerts_do_not_trigger_a_webhook_for_critical(
    store: ControlStoreProtocol, wall_clock: FakeClock
) -> None:
    with http_receiver() as rx:
        a = Alerting(
            alerting_settings(routes=[], webhooks=[_hook(rx.url)]),
            store,
            Metrics(),
            clock=wall_clock,
        )
        a.sink.publish([result("income", 0.15, "warning")])
        a.tick()
        a.outbox.run_once()
        assert rx.requests == []


def test_a_redirect_is_a_failure_and_is_not_followed(
    store: ControlStoreProtocol, wall_clock: FakeClock
) -> None:
    with http_receiver(script=[302]) as rx:
        a = Alerting(
            alerting_settings(routes=[], webhooks=[_hook(rx.url)]),
            store,
            Metrics(),
            clock=wall_clock,
        )
        _fire(a, wall_clock)
        a.outbox.run_once()
        (item,) = store.list_outbox(kind="webhook")
        assert (item.state, item.last_status) == ("pending", 302)
        assert [r.path for r in rx.requests] == ["/"]


@pytest.mark.parametrize(
    ("preset", "check"),
    [
        (
            "github",
            lambda b: b["event_type"] == "driftd.retrain" and "model" in b["client_payload"],
        ),
        (
            "airflow",
            lambda b: (
                b["dag_run_id"].startswith("driftd-")
                and b["logical_date"] is None
                and b["conf"]["model"] == "credit-risk"
            ),
        ),
        (
            "prefect",
            lambda b: (
                b["parameters"]["driftd"]["model"] == "credit-risk"
                and b["idempotency_key"].startswith("webhook:retrain:credit-risk:")
            ),
        ),
        (
            "generic",
            lambda b: (
                b["model"] == "credit-risk"
                and b["links"]["drift"].startswith(
                    "http://driftd.test:8470/v1/models/credit-risk/drift"
                )
            ),
        ),
    ],
)
def test_presets_shape_the_body(
    store: ControlStoreProtocol, wall_clock: FakeClock, preset: str, check: object
) -> None:
    with http_receiver() as rx:
        hook = _hook(rx.url, preset=preset, headers={"authorization": "Bearer t0ken"})
        a = Alerting(
            alerting_settings(routes=[], webhooks=[hook]), store, Metrics(), clock=wall_clock
        )
        _fire(a, wall_clock)
        a.outbox.run_once()
        (req,) = rx.requests
        assert req.headers["authorization"] == "Bearer t0ken"
        assert check(verify(SECRET, req, wall_clock.now // 1000))  # type: ignore[operator]


def test_a_webhook_to_a_private_address_is_refused_at_connect_time(
    store: ControlStoreProtocol, wall_clock: FakeClock
) -> None:
    with http_receiver() as rx:
        settings = alerting_settings(routes=[], webhooks=[_hook(rx.url)])
        a = Alerting(settings, store, Metrics(), clock=wall_clock)
        a.outbox.settings = settings.model_copy(update={"allow_private_targets": False})
        _fire(a, wall_clock)
        a.outbox.run_once()
        (item,) = store.list_outbox(kind="webhook")
        assert item.state == "failed" and "loopback" in item.last_error
        assert rx.requests == []


def test_the_default_webhook_schedule_is_svix() -> None:
    from driftd.config.alerting import OutboxSettings

    assert tuple(OutboxSettings().webhook_schedule) == SVIX_SCHEDULE_MS
