"""The ``alerting`` settings section: rules, routes, Alertmanager, retraining webhooks.

Durations take ``30s``, ``5m``, ``4h``, ``1h30m`` or a number of seconds and
are held in milliseconds. With no rules written, :data:`DEFAULT_RULES` apply:
any warning or critical verdict on any metric of any model alerts.

>>> s = AlertingSettings(group_wait="10s", rules=[{"name": "Psi", "metric": "psi",
...     "thresholds": {"warning": 0.1, "critical": 0.25}, "for": "1m"}])
>>> s.group_wait, s.rules[0].for_ms, s.repeat_interval
(10000, 60000, 14400000)
>>> s.rules[0].severity_for(0.3), s.rules[0].severity_for(0.05)
('critical', 'ok')
>>> [r.name for r in AlertingSettings().effective_rules]
['DriftDetected']
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from driftd.alerting.netguard import refusal

__all__ = [
    "DEFAULT_RULES",
    "AlertRule",
    "AlertingSettings",
    "AlertmanagerSettings",
    "NotifyRoute",
    "OutboxSettings",
    "WebhookTarget",
    "parse_duration_ms",
]

AlertSeverity = Literal["info", "warning", "critical"]
_SEVERITY_ORDER: tuple[AlertSeverity, ...] = ("info", "warning", "critical")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTTP_APPRISE = ("json", "jsons", "xml", "xmls", "form", "forms")


def parse_duration_ms(value: Any) -> int:
    """``"1h30m"`` → 5400000; a bare number is seconds.

    >>> parse_duration_ms("1h30m"), parse_duration_ms(2.5), parse_duration_ms("250ms")
    (5400000, 2500, 250)
    """
    if isinstance(value, bool):
        raise ValueError("a duration such as 30s, 5m, 4h or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return round(value * 1000)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            h, m, s, ms = (int(g) if g else 0 for g in match.groups())
            return ((h * 60 + m) * 60 + s) * 1000 + ms
    raise ValueError(f"{value!r} is not a duration: use 30s, 5m, 4h, 1h30m or seconds")


DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _labels_ok(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL.match(name):
            raise ValueError(f"label name {name!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return labels


class AlertRule(_Section):
    """One alerting rule: which results, what severity, how long before it fires."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    models: list[str] = Field(default_factory=list, description="empty: every model")
    metric: str = Field(default="*", description="psi, ks, chi2, ...; * for every metric")
    features: list[str] = Field(default_factory=list, description="empty: every feature")
    thresholds: dict[AlertSeverity, float] | None = None
    min_severity: AlertSeverity = "warning"
    for_ms: DurationMs = Field(default=0, alias="for")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[Literal["summary", "description", "runbook_url"], str] = Field(
        default_factory=dict
    )

    _check_labels = field_validator("labels")(_labels_ok)

    @model_validator(mode="after")
    def _ordered(self) -> AlertRule:
        if self.thresholds is not None:
            if not self.thresholds:
                raise ValueError(
                    "thresholds: give at least one of info/warning/critical, or leave the key "
                    "out to use the verdict's severity"
                )
            values = [self.thresholds[s] for s in _SEVERITY_ORDER if s in self.thresholds]
            if values != sorted(values):
                raise ValueError("thresholds: must grow from info to warning to critical")
        reserved = {"alertname", "model", "feature", "metric", "severity"} & set(self.labels)
        if reserved:
            raise ValueError(f"labels: {sorted(reserved)} are set by driftd; use other names")
        return self

    def matches(self, model: str, metric: str, feature: str) -> bool:
        return (
            (not self.models or model in self.models)
            and self.metric in ("*", metric)
            and (not self.features or feature in self.features)
        )

    def severity_for(self, value: float, verdict: str = "ok") -> str:
        """The severity this rule gives a result: by its thresholds, else the verdict's."""
        if self.thresholds is None:
            severity = verdict
        else:
            severity = "ok"
            for s in _SEVERITY_ORDER:
                if s in self.thresholds and value >= self.thresholds[s]:
                    severity = s
        if severity not in _SEVERITY_ORDER:
            return "ok"
        rank = _SEVERITY_ORDER.index(severity)
        return severity if rank >= _SEVERITY_ORDER.index(self.min_severity) else "ok"


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        name="DriftDetected",
        annotations={
            "summary": "{metric} of {feature} on model {model} is {value:.3g} ({severity})",
            "description": "The live distribution of {feature} has moved away from the "
            "training baseline {baseline_version}.",
        },
    ),
)


class NotifyRoute(_Section):
    """Apprise targets for some severities (resolved notices go where the alert went)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    severities: list[AlertSeverity] = Field(default_factory=lambda: ["warning", "critical"])  # type: ignore[arg-type]
    urls: list[SecretStr] = Field(default_factory=list, description="Apprise URLs")
    tags: list[str] = Field(default_factory=list, description="tags in alerting.apprise_config")

    @model_validator(mode="after")
    def _somewhere(self) -> NotifyRoute:
        if not self.urls and not self.tags:
            raise ValueError("urls: give Apprise URLs or tags of alerting.apprise_config")
        return self


class AlertmanagerSettings(_Section):
    """Push alerts to a Prometheus Alertmanager as well (``POST /api/v2/alerts``)."""

    url: str | None = None
    resend_interval: DurationMs = Field(default=60_000)
    timeout: DurationMs = Field(default=10_000)


Preset = Literal["generic", "github", "airflow", "prefect"]


class WebhookTarget(_Section):
    """A retraining pipeline called when chosen alerts fire for a model."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    preset: Preset = "generic"
    models: list[str] = Field(default_factory=list, description="empty: every model")
    alertnames: list[str] = Field(default_factory=list, description="empty: every rule")
    severities: list[AlertSeverity] = Field(default_factory=lambda: ["critical"])  # type: ignore[arg-type]
    cooldown: DurationMs = Field(default=24 * 3600 * 1000)
    secret: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    event_type: str = Field(default="driftd.retrain", description="github: the event_type")
    timeout: DurationMs = Field(default=15_000)

    @field_validator("secret")
    @classmethod
    def _whsec(cls, secret: SecretStr) -> SecretStr:
        raw = secret.get_secret_value()
        if not raw.startswith("whsec_"):
            raise ValueError("must look like whsec_<base64 of 24 to 64 random bytes>")
        try:
            key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
        except ValueError:
            raise ValueError("the part after whsec_ must be base64") from None
        if not 24 <= len(key) <= 64:
            raise ValueError(f"the key must hold 24 to 64 bytes, not {len(key)}")
        return secret

    def wants(self, model: str, alertname: str, severity: str) -> bool:
        return (
            (not self.models or model in self.models)
            and (not self.alertnames or alertname in self.alertnames)
            and severity in self.severities
        )


_SVIX_SCHEDULE_MS = (0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000)


class OutboxSettings(_Section):
    """Retries: Apprise notifications back off exponentially; webhooks follow a schedule."""

    initial: DurationMs = Field(default=5_000)
    max: DurationMs = Field(default=600_000)
    max_attempts: int = Field(default=12, ge=1)
    poll: DurationMs = Field(default=1_000)
    webhook_schedule: list[DurationMs] = Field(
        # Svix's: immediately, 5s, 5m, 30m, 2h, 5h, 10h, 10h (webhooks.SVIX_SCHEDULE_MS)
        default_factory=lambda: list(_SVIX_SCHEDULE_MS),
        min_length=1,
        description="delay before each webhook attempt, counted from the previous one",
    )


class AlertingSettings(_Section):
    """Rules, grouping, routes and targets. See the README's alerting section."""

    enabled: bool = True
    external_url: str = Field(
        default="http://127.0.0.1:8470", description="driftd's API as readers reach it (links)"
    )
    tick: DurationMs = Field(default=1_000)
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "model"])
    group_wait: DurationMs = Field(default=30_000)
    group_interval: DurationMs = Field(default=300_000)
    repeat_interval: DurationMs = Field(default=4 * 3600 * 1000)
    rules: list[AlertRule] = Field(default_factory=list)
    routes: list[NotifyRoute] = Field(default_factory=list)
    apprise_config: str | None = Field(default=None, description="an Apprise YAML/text file")
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    outbox: OutboxSettings = OutboxSettings()
    allow_private_targets: bool = False
    allowed_hosts: list[str] = Field(
        default_factory=list, description="host names exempt from the private-address guard"
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertingSettings:
        for field, items in (("rules", self.rules), ("routes", self.routes)):
            names = [item.name for item in items]
            if len(names) != len(set(names)):
                raise ValueError(f"{field}: names must be unique, got {names}")
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError(f"webhooks: names must be unique, got {names}")
        if self.group_interval <= 0 or self.repeat_interval <= 0:
            raise ValueError("group_interval: group_interval and repeat_interval must be > 0")
        if any(r.tags for r in self.routes) and not self.apprise_config:
            raise ValueError("apprise_config: routes use tags, so name the Apprise config file")
        for key, url in self._targets():
            reason = refusal(
                url,
                allow_private=self.allow_private_targets,
                resolve=False,
                allowed_hosts=self.guard_hosts,
            )
            if reason is not None:
                raise ValueError(
                    f"{key}: the target {reason}; use a public address, or list the host "
                    "in alerting.allowed_hosts (or set alerting.allow_private_targets: true)"
                )
        return self

    def _targets(self) -> list[tuple[str, str]]:
        found = [(f"webhooks.{i}.url", w.url) for i, w in enumerate(self.webhooks)]
        if self.alertmanager.url:
            found.append(("alertmanager.url", self.alertmanager.url))
        for i, route in enumerate(self.routes):
            for url in route.urls:
                raw = url.get_secret_value()
                if raw.split("://", 1)[0].lower() in _HTTP_APPRISE:
                    found.append((f"routes.{i}.urls", raw))
        return found

    @property
    def guard_hosts(self) -> frozenset[str]:
        return frozenset(h.lower() for h in self.allowed_hosts)

    @property
    def effective_rules(self) -> tuple[AlertRule, ...]:
        """The rules written, or :data:`DEFAULT_RULES` when none are."""
        return tuple(self.rules) if self.rules else DEFAULT_RULES

    def webhook(self, name: str) -> WebhookTarget | None:
        return next((w for w in self.webhooks if w.name == name), None)

    def route(self, name: str) -> NotifyRoute | None:
        return next((r for r in self.routes if r.name == name), None)
