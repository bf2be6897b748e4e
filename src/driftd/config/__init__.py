"""Settings: one YAML file plus ``DRIFTD_`` environment overrides, validated at start-up."""

from driftd.config.loader import load_settings
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
    "ApiSettings",
    "CollectorSettings",
    "KServeModelSettings",
    "KServeSettings",
    "KafkaSettings",
    "LimitsSettings",
    "LoggingSettings",
    "ModelSettings",
    "PerformanceSettings",
    "ScrubSettings",
    "Settings",
    "StorageSettings",
    "WindowSettings",
    "load_settings",
]
