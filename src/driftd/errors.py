"""One exception tree for driftd.

::

    DriftdError
    ├── ConfigError            bad setting: names the key, the value and the fix
    ├── EventError             an event broke the contract (dead-lettered, never escapes the loop)
    │   └── DecodeError        not JSON, not an object, too large
    ├── BaselineError          baseline cannot be built or used
    │   ├── BaselineExistsError    same model+version, different data (baselines are immutable)
    │   └── BaselineNotFoundError  no baseline for the model (or version)
    ├── StorageError           ClickHouse or the control store failed, cause unknown:
    │   │                      the pipeline probes storage to tell the two cases below apart
    │   ├── StorageUnavailableError  an outage (refused, timeout, disk full, locked):
    │   │                            retried with backoff and jitter, consumption pauses
    │   └── StorageDataError         the data caused it (encoding, type, size): never
    │                                retried; the batch is split to find the bad events
    ├── DeliveryError          a notification, webhook or Alertmanager push failed (outbox retries)
    ├── RequestRefusedError    a daemon's API refused what a CLI command asked (a 4xx answer)
    └── SourceError            the Kafka source failed to connect, publish or commit

Every error carries its context as attributes, so callers and logs need not
parse messages.
"""

from __future__ import annotations

__all__ = [
    "BaselineError",
    "BaselineExistsError",
    "BaselineNotFoundError",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "DriftdError",
    "EventError",
    "RequestRefusedError",
    "SourceError",
    "StorageDataError",
    "StorageError",
    "StorageUnavailableError",
]


class DriftdError(Exception):
    """Root of every error driftd raises on purpose."""


class ConfigError(DriftdError):
    """A setting is invalid. ``problems`` lists ``(key, value, fix)`` triples."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        lines = [f"{key}={value}: {fix}" for key, value, fix in problems]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


class EventError(DriftdError):
    """An event broke the contract; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class DecodeError(EventError):
    """The payload is not a JSON object, or is too large to look at."""


class BaselineError(DriftdError):
    """A baseline cannot be built, stored or used."""

    def __init__(self, message: str, *, model: str = "", version: str = "") -> None:
        self.model = model
        self.version = version
        super().__init__(message)


class BaselineExistsError(BaselineError):
    """The model already has this version with different data: baselines are immutable."""


class BaselineNotFoundError(BaselineError):
    """No baseline exists for the model (or the requested version)."""


class StorageError(DriftdError):
    """A write or read against ClickHouse or the control store failed (cause not known)."""


class StorageUnavailableError(StorageError):
    """Storage is out of service: refused, timed out, disk full or locked. Retry later.

    ``condition`` names the kind of outage (``unreachable``, ``timeout``,
    ``disk_full``, ``locked``), which ``/readyz`` reports.
    """

    def __init__(self, message: str, *, condition: str = "unreachable") -> None:
        self.condition = condition
        super().__init__(message)


class StorageDataError(StorageError):
    """Storage refused the data itself (encoding, type, size): retrying cannot help."""


class SourceError(DriftdError):
    """The Kafka source could not connect, poll or commit."""


class DeliveryError(DriftdError):
    """An outgoing notification, webhook or push failed.

    ``retry`` is False when trying again cannot help (a refused target, a bad
    URL); ``status`` is the HTTP status when there was an answer.
    """

    def __init__(self, message: str, *, retry: bool = True, status: int | None = None) -> None:
        self.retry = retry
        self.status = status
        super().__init__(message)


class RequestRefusedError(DriftdError):
    """A daemon's API answered a CLI request with a 4xx; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"the API answered {status}: {detail}")
