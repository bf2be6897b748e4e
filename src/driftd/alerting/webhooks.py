"""Retraining webhooks: payloads, presets, Standard Webhooks signatures, delivery.

A webhook fires when an alert it wants fires for a model, at most once per
``cooldown`` per (webhook, model), and once per trigger (idempotency key:
webhook, model, alert fingerprint, firing time). The body is fixed when the
trigger is queued; each attempt signs it anew per Standard Webhooks:
``webhook-id`` (the outbox id, the same on every retry), ``webhook-timestamp``
(seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(key, "id.ts.body")>``
with ``key`` the base64 part of the ``whsec_`` secret. Only a 2xx answer is a
delivery; redirects (3xx) count as failures and are not followed.

>>> secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
>>> sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Collection, Sequence
from typing import Any

import httpx

from driftd.alerting.messages import drift_link, iso
from driftd.alerting.netguard import check_target
from driftd.config.alerting import WebhookTarget
from driftd.errors import DeliveryError
from driftd.storage.alert_records import AlertRecord

__all__ = ["SVIX_SCHEDULE_MS", "build_body", "deliver_webhook", "sign", "trigger_key"]

SVIX_SCHEDULE_MS = (0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000)
"""Delay before each attempt: immediately, 5s, 5m, 30m, 2h, 5h, 10h, 10h."""


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def trigger_key(hook: WebhookTarget, alert: AlertRecord) -> str:
    return (
        f"webhook:{hook.name}:{alert.labels.get('model', '')}:{alert.fingerprint}:{alert.fired_ms}"
    )


def _payload(alert: AlertRecord, key: str, external_url: str) -> dict[str, Any]:
    labels = alert.labels
    model = labels.get("model", "")
    detail = alert.detail
    base = external_url.rstrip("/")
    return {
        "type": "driftd.retrain",
        "idempotency_key": key,
        "model": model,
        "baseline_version": detail.get("baseline_version"),
        "reason": (
            f"{labels.get('alertname')} fired {labels.get('severity')}: {labels.get('metric')} of "
            f"{labels.get('feature') or '(model)'} = {alert.value:.4g} since {iso(alert.active_ms)}"
        ),
        "alerts": [
            {
                "fingerprint": alert.fingerprint,
                "labels": labels,
                "annotations": alert.annotations,
                "value": alert.value,
                "active_since": iso(alert.active_ms),
                "fired_at": iso(alert.fired_ms or alert.active_ms),
            }
        ],
        "windows": [detail],
        "links": {
            "drift": drift_link(base, alert),
            "alerts": f"{base}/v1/alerts",
            "baselines": f"{base}/v1/models/{model}/baselines",
        },
    }


def build_body(hook: WebhookTarget, alert: AlertRecord, key: str, external_url: str) -> str:
    """The request body, shaped for the webhook's preset."""
    payload = _payload(alert, key, external_url)
    body: dict[str, Any]
    if hook.preset == "github":  # POST /repos/{owner}/{repo}/dispatches
        body = {"event_type": hook.event_type, "client_payload": payload}
    elif hook.preset == "airflow":  # POST /api/v2/dags/{dag_id}/dagRuns
        run_id = "driftd-" + hashlib.sha256(key.encode()).hexdigest()[:24]
        body = {"dag_run_id": run_id, "logical_date": None, "conf": payload}
    elif hook.preset == "prefect":  # POST /api/deployments/{id}/create_flow_run
        body = {"parameters": {"driftd": payload}, "idempotency_key": key}
    else:
        body = payload
    return json.dumps(body, sort_keys=True, default=str)


def deliver_webhook(
    hook: WebhookTarget,
    msg_id: str,
    body: str,
    now_s: int,
    *,
    allow_private: bool,
    allowed_hosts: Collection[str] = (),
) -> int:
    """POST one attempt; return the status, raise :class:`DeliveryError` unless 2xx."""
    check_target(hook.url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    data = body.encode()
    headers = {k: v.get_secret_value() for k, v in hook.headers.items()}
    headers.update(
        {
            "content-type": "application/json",
            "user-agent": "driftd-webhooks",
            "webhook-id": msg_id,
            "webhook-timestamp": str(now_s),
            "webhook-signature": sign(hook.secret.get_secret_value(), msg_id, now_s, data),
        }
    )
    try:
        with httpx.Client(timeout=hook.timeout / 1000, follow_redirects=False) as client:
            response = client.post(hook.url, content=data, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {hook.name}: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(
            f"webhook {hook.name}: HTTP {response.status_code}", status=response.status_code
        )
    return response.status_code


def wanted_hooks(hooks: Sequence[WebhookTarget], alert: AlertRecord) -> list[WebhookTarget]:
    labels = alert.labels
    return [
        h
        for h in hooks
        if h.wants(labels.get("model", ""), labels.get("alertname", ""), labels.get("severity", ""))
    ]
