"""driftd's settings: one YAML file plus ``DRIFTD_``-prefixed environment overrides.

Precedence, highest first: keyword arguments, environment (``DRIFTD_KAFKA__GROUP_ID``;
``__`` separates sections), secret files (``DRIFTD_SCRUB__HMAC_KEY_FILE=/run/secrets/k``
reads the file), the YAML file, defaults. Settings are built once, in the CLI or
the daemon, never at import time. :func:`load_settings` validates everything at
start-up and raises one :class:`~driftd.errors.ConfigError` naming every bad key,
its value and the fix.

>>> s = Settings(kafka={"enabled": False}, window={"size": 500})
>>> s.window.size, s.kafka.predictions_topic
(500, 'driftd.predictions')
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from driftd.config.alerting import AlertingSettings

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
]

ScrubAction = Literal["drop", "hash", "keep"]
PiiType = Literal["jwt", "secret", "email", "iban", "card", "ssn", "ipv6", "ipv4", "phone"]
ValueAction = Literal["drop", "mask", "hash", "keep"]
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "default"})
MIN_SECRET_LENGTH = 16


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Section):
    """Where data lives: ClickHouse (data plane) and the SQLAlchemy control store."""

    clickhouse_url: str = "chdb:///var/lib/driftd/clickhouse"
    database: str = Field(default="driftd", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    raw_ttl_days: int = Field(default=30, ge=1, le=3650)
    control_url: str = "sqlite:////var/lib/driftd/control.db"
    retry_initial_ms: int = Field(default=200, ge=1)
    retry_max_ms: int = Field(default=30_000, ge=1)

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_scheme(cls, url: str) -> str:
        if not url.startswith(("chdb://", "http://", "https://", "clickhouse://")):
            raise ValueError("use chdb:///path (embedded) or http(s)://user:pass@host:8123/db")
        return url

    @field_validator("control_url")
    @classmethod
    def _control_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql")):
            raise ValueError("use sqlite:///path or postgresql+psycopg://user@host/db")
        return url

    @property
    def embedded(self) -> bool:
        """True when ClickHouse runs in-process (chDB): one process per directory."""
        return self.clickhouse_url.startswith("chdb://")


class KafkaSettings(_Section):
    """The Kafka source. Off by default: a sidecar can take events over HTTP only."""

    enabled: bool = False
    client: Literal["kafka-python", "confluent"] = "kafka-python"
    """The consumer: kafka-python (pure Python), or confluent-kafka (librdkafka, about three
    times less CPU per event; ``pip install 'driftd[confluent]'``). Producers (dead letters,
    the HTTP forwarder) are kafka-python's either way."""
    bootstrap_servers: Annotated[list[str], NoDecode] = ["127.0.0.1:9092"]
    client_id: str = "driftd"
    group_id: str = "driftd-collector"
    predictions_topic: str = "driftd.predictions"
    outcomes_topic: str = "driftd.outcomes"
    deadletter_topic: str = "driftd.deadletter"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_poll_records: int = Field(default=10_000, ge=1)
    poll_timeout_ms: int = Field(default=500, ge=1)
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    fetch_min_bytes: int = Field(default=1, ge=1)
    fetch_max_wait_ms: int = Field(default=500, ge=0)
    """The broker answers a fetch once it holds ``fetch_min_bytes`` or after this long."""
    commit_async: bool = True
    """Commit offsets asynchronously after each stored batch (synchronously when the
    consumer closes, and on revoke with confluent): a lost commit only redelivers
    batches that storage skips as already stored."""
    ensure_topics: bool = False
    topic_partitions: int = Field(default=3, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr | None = None

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _timeouts(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.client == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
            raise ValueError(
                "client: confluent-kafka is not installed: pip install 'driftd[confluent]', "
                "or set kafka.client to kafka-python"
            )
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                "sasl_username and sasl_password: required with security_protocol "
                f"{self.security_protocol} (DRIFTD_KAFKA__SASL_PASSWORD_FILE for a secret file)"
            )
        return self


class ApiSettings(_Section):
    """The HTTP API (ingest, queries, health)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    auth: Literal["auto", "keys", "off"] = "auto"
    """``keys``: every request needs ``Authorization: Bearer <key>`` (except ``open_paths``);
    ``off``: no keys; ``auto``: off on a loopback host, keys otherwise."""
    allow_unauthenticated: bool = False
    """Allow ``auth: off`` on a non-loopback host (behind an authenticating proxy)."""
    open_paths: list[str] = ["/healthz", "/readyz", "/metrics"]
    """Paths served without a key even when keys are required."""
    keys_path: str = ""
    """Keys given to driftd as a (secret) file, one a line: ``name scopes key [models]``,
    e.g. ``grafana read drk_… credit-risk``; ``key`` may be ``sha256:<digest>`` of it.
    Digested when read, never stored."""
    key_cache_s: float = Field(default=5.0, ge=0)
    """Keys are re-read from the control store at most this often (revocation delay)."""
    rate_limit_per_s: float = Field(default=0.0, ge=0)
    """Requests per second per key (per client address without keys); 0: no limit."""
    rate_burst: int = Field(default=100, ge=1)
    body_timeout_s: float = Field(default=30.0, gt=0)
    """A request body that takes longer than this to arrive is refused (408)."""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    """TLS for the API (PEM files, passed to uvicorn); empty: plain HTTP."""

    @model_validator(mode="after")
    def _exposure(self) -> ApiSettings:
        if self.auth == "off" and not is_loopback(self.host) and not self.allow_unauthenticated:
            raise ValueError(
                f"auth: off on the non-loopback host {self.host!r} lets anyone who reaches the "
                "port ingest and read; use auth: keys (driftd keys create), bind 127.0.0.1, or "
                "set api.allow_unauthenticated: true behind an authenticating proxy"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile: set both or neither")
        return self

    @property
    def keys_required(self) -> bool:
        """Whether requests outside ``open_paths`` need an API key."""
        return self.auth == "keys" or (self.auth == "auto" and not is_loopback(self.host))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CollectorSettings(_Section):
    """Batching between the source and storage, and when the pipeline counts as stuck."""

    batch_max_events: int = Field(default=10_000, ge=1)
    batch_max_wait_ms: int = Field(default=1_000, ge=1)
    stall_after_ms: int = Field(default=60_000, ge=1_000)
    """``/readyz`` fails once work has waited this long without any progress."""
    ready_check_timeout_ms: int = Field(default=2_000, ge=100)
    """``/readyz`` answers within about this long, even when a store hangs."""
    recent_ids: int = Field(default=100_000, ge=0)
    """Client-chosen event ids remembered, so a client's retry is stored once (0: off)."""
    fast_path: bool = True
    """Kafka prediction values are decoded, scrubbed and validated column by column
    (``driftd.collector.fastpath``), falling back to the per-event path for anything it
    cannot vouch for; off, every event takes the per-event path (same results, slower)."""


MIN_WINDOW_SIZE = 200
"""Below this, the default tests' asymptotic p-values no longer hold their false-alarm
rate (bench/README.md), so ``window.size`` refuses smaller sizes."""


def _default_tests() -> list[str]:
    from driftd.detectors.registry import DEFAULT_TESTS

    return list(DEFAULT_TESTS)


class WindowSettings(_Section):
    """Count windows per model, and how a closed window is judged.

    A window closes each time ``size`` events have arrived or, with
    ``duration_s``, at the end of each span of that many seconds of event time;
    one that receives nothing for ``idle_timeout_s`` closes as it is. ``tests`` name
    window tests of :data:`driftd.detectors.registry.WINDOW_TESTS`; a finding
    is a warning (critical) when its corrected p-value is below
    ``alpha_warning`` (``alpha_critical``) and its effect size reaches the
    metric's floor; ``persistence`` consecutive windows make it hold.
    ``stream_detector`` runs on the numeric prediction and on the numeric
    ``stream_features``, fed batch by batch. ``segment_keys`` name the event
    segment tags whose values get slices of their own (at most
    ``max_segments`` per window).
    """

    size: int = Field(default=1_000, ge=10)
    duration_s: float | None = Field(default=None, gt=0)
    idle_timeout_s: float | None = Field(default=300.0, gt=0)
    min_size: int = Field(default=MIN_WINDOW_SIZE, ge=10)
    tests: list[str] = Field(default_factory=_default_tests)
    alpha_warning: float = Field(default=0.005, gt=0, lt=1)
    alpha_critical: float = Field(default=0.0005, gt=0, lt=1)
    correction: Literal["bonferroni", "bh"] = "bonferroni"
    persistence: int = Field(default=1, ge=1, le=100)
    stream_detector: Literal["adwin", "page_hinkley", "kswin"] | None = "adwin"
    stream_features: list[str] = Field(default_factory=list)
    segment_keys: list[str] = Field(default_factory=list)
    max_segments: int = Field(default=20, ge=0, le=1_000)

    @field_validator("tests")
    @classmethod
    def _known_tests(cls, tests: list[str]) -> list[str]:
        from driftd.detectors.registry import WINDOW_TESTS

        unknown = [t for t in tests if t not in WINDOW_TESTS]
        if unknown:
            raise ValueError(f"unknown tests {unknown}; choose from {sorted(WINDOW_TESTS)}")
        return tests

    @model_validator(mode="after")
    def _consistent(self) -> WindowSettings:
        if self.alpha_critical > self.alpha_warning:
            raise ValueError("alpha_critical must be <= alpha_warning")
        if self.size < self.min_size:
            raise ValueError(
                f"size={self.size} is below min_size={self.min_size}: at fewer events the "
                "default tests cannot hold their false-alarm rate; raise size (or lower "
                "min_size, knowing windows that small flag more often)"
            )
        return self


class PerformanceSettings(_Section):
    """Model performance once outcomes join their predictions.

    Windows span ``window_s`` seconds of prediction time; labels join them up
    to ``horizon_days`` after a window ends (then it is final). Every
    ``recompute_interval_s`` the windows that received predictions or labels
    are recomputed. A window's metric is a warning (critical) when it falls
    ``warning_drop`` (``critical_drop``) below the baseline's validation
    metric — a fraction of it with ``relative`` — with at least
    ``min_labelled`` labels and the baseline outside its confidence interval
    (``bootstrap_resamples`` resamples; Wilson's interval for accuracy).
    ``stream_detector`` watches the per-event error as outcomes join.
    """

    enabled: bool = True
    window_s: float = Field(default=3_600.0, gt=0)
    horizon_days: float = Field(default=30.0, ge=0)
    recompute_interval_s: float = Field(default=30.0, gt=0)
    warning_drop: float = Field(default=0.05, gt=0)
    critical_drop: float = Field(default=0.10, gt=0)
    relative: bool = False
    min_labelled: int = Field(default=100, ge=1)
    bootstrap_resamples: int = Field(default=200, ge=20, le=10_000)
    segment_keys: list[str] = Field(default_factory=list)
    max_segments: int = Field(default=20, ge=0, le=1_000)
    stream_detector: Literal["adwin", "page_hinkley", "kswin"] | None = "adwin"

    @model_validator(mode="after")
    def _consistent(self) -> PerformanceSettings:
        if self.critical_drop < self.warning_drop:
            raise ValueError("critical_drop must be >= warning_drop")
        return self


class ScrubSettings(_Section):
    """PII scrubbing rules, applied before anything is written anywhere."""

    hmac_key: SecretStr | None = None
    fields: dict[str, ScrubAction] = {}
    default_sensitive: bool = True
    values: dict[PiiType, ValueAction] = {}
    """Per PII type found in a value: drop the field, mask the match (default), hash it, keep."""

    @model_validator(mode="after")
    def _key_for_hashing(self) -> ScrubSettings:
        hashing = "hash" in self.fields.values() or "hash" in self.values.values()
        if hashing and not (self.hmac_key and self.hmac_key.get_secret_value()):
            raise ValueError(
                "hmac_key: required when a field is hashed; set DRIFTD_SCRUB__HMAC_KEY "
                "or DRIFTD_SCRUB__HMAC_KEY_FILE (never an unsalted hash)"
            )
        return self


class LimitsSettings(_Section):
    """Per-event limits (an event beyond them is dead-lettered) and per-request caps."""

    max_payload_bytes: int = Field(default=65_536, ge=256)
    max_features: int = Field(default=500, ge=1)
    max_string_length: int = Field(default=1_024, ge=16)
    max_events_per_request: int = Field(default=10_000, ge=1)
    max_dead_letters_per_request: int = Field(default=100, ge=0)


class KServeModelSettings(_Section):
    """How one InferenceService's tensors become driftd features (keyed by its name)."""

    model: str = ""  # driftd's model name; default: the InferenceService's name
    version: str = ""  # baseline version; default: the V2 response's model_version
    feature_names: list[str] = []  # names of unnamed input columns, in order
    output: str = ""  # V2 output tensor holding the prediction; default: the first
    class_names: list[str] = []  # labels of a probability vector's columns


class KServeSettings(_Section):
    """KServe payload logger ingest: ``POST /v1/events/kserve`` and, optionally, Kafka."""

    pair_timeout_s: float = Field(default=60.0, gt=0)
    max_pending: int = Field(default=100_000, ge=1)
    kafka_topic: str = ""  # consume CloudEvents (ce_ headers) from this topic; "" = off
    kafka_group_id: str = "driftd-kserve"
    models: dict[str, KServeModelSettings] = {}


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class ModelSettings(_Section):
    """One model's own settings; what it does not name comes from the top-level sections."""

    window: dict[str, Any] = Field(default_factory=dict)
    """Keys of the ``window`` section, overriding it for this model."""


class Settings(BaseSettings):
    """All of driftd's settings, validated together."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    environment: Literal["development", "production"] = "development"
    storage: StorageSettings = StorageSettings()
    kafka: KafkaSettings = KafkaSettings()
    api: ApiSettings = ApiSettings()
    collector: CollectorSettings = CollectorSettings()
    window: WindowSettings = WindowSettings()
    performance: PerformanceSettings = PerformanceSettings()
    scrub: ScrubSettings = ScrubSettings()
    limits: LimitsSettings = LimitsSettings()
    kserve: KServeSettings = KServeSettings()
    logging: LoggingSettings = LoggingSettings()
    alerting: AlertingSettings = AlertingSettings()
    models: dict[str, ModelSettings] = Field(default_factory=dict)

    def window_for(self, model: str) -> WindowSettings:
        """The window section as it applies to ``model`` (its overrides over the defaults)."""
        own = self.models.get(model)
        if own is None or not own.window:
            return self.window
        return WindowSettings.model_validate({**self.window.model_dump(), **own.window})

    @model_validator(mode="after")
    def _horizon_within_retention(self) -> Settings:
        if self.performance.horizon_days > self.storage.raw_ttl_days:
            raise ValueError(
                f"performance.horizon_days={self.performance.horizon_days} exceeds "
                f"storage.raw_ttl_days={self.storage.raw_ttl_days}: predictions would expire "
                "before their labels could join; lower the horizon or keep raw events longer"
            )
        return self

    @model_validator(mode="after")
    def _model_windows(self) -> Settings:
        for model in self.models:
            try:
                self.window_for(model)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'window'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ValueError(f"models.{model}.window: {problems}") from None
        return self

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        key = self.scrub.hmac_key.get_secret_value() if self.scrub.hmac_key else None
        if (
            self.environment == "production"
            and key is not None
            and (key.lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH)
        ):
            raise ValueError(
                f"scrub.hmac_key: looks like a placeholder; use at least {MIN_SECRET_LENGTH} "
                "random characters in production"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from driftd.config.sources import SecretFileEnvSource, WithoutFileKeys

        # The YAML file comes from model_config["yaml_file"], set by load_settings().
        return (
            init_settings,
            WithoutFileKeys(settings_cls, env_settings),
            SecretFileEnvSource(settings_cls),
            YamlConfigSettingsSource(settings_cls),
        )
