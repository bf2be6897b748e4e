"""Settings: one YAML file plus ``DRIFTD_`` environment overrides, validated at start-up."""

from driftd.config.alerting import (
    AlertingSettings,
    AlertmanagerSettings,
    AlertRule,
    NotifyRoute,
    OutboxSettings,
    WebhookTarget,
)
from driftd.config.loader import load_settings, unknown_environment
from driftd.config.settings import (
    ApiSettings,
    CollectorSettings,
    KafkaSettings,
    KServeModelSettings,
    KServeSettings,
    LimitsSettings,
    LoggingSettings,
    ModelSettings,
    PerformanceSettings,
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
    "KServeModelSettings",
    "KServeSettings",
    "KafkaSettings",
    "LimitsSettings",
    "LoggingSettings",
    "ModelSettings",
    "NotifyRoute",
    "OutboxSettings",
    "PerformanceSettings",
    "ScrubSettings",
    "Settings",
    "StorageSettings",
    "WebhookTarget",
    "WindowSettings",
    "load_settings",
    "unknown_environment",
]
