"""Settings: one YAML file plus ``DRIFTD_`` environment overrides, validated at start-up."""

from driftd.config.alerting import (
    AlertingSettings,
    AlertmanagerSettings,
    AlertRule,
    NotifyRoute,
    OutboxSettings,
    WebhookTarget,
)
from driftd.config.loader import load_settings
from driftd.config.settings import (
    ApiSettings,
    CollectorSettings,
    KafkaSettings,
    LimitsSettings,
    LoggingSettings,
    ScrubSettings,
    Settings,
    StorageSettings,
    WindowSettings,
)

__all__ = [
    "AlertRule",
    "AlertingSettings",
    "AlertmanagerSettings",
    "ApiSettings",
    "CollectorSettings",
    "KafkaSettings",
    "LimitsSettings",
    "LoggingSettings",
    "NotifyRoute",
    "OutboxSettings",
    "ScrubSettings",
    "Settings",
    "StorageSettings",
    "WebhookTarget",
    "WindowSettings",
    "load_settings",
]
