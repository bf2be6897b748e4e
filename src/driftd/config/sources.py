"""Settings sources beyond pydantic-settings' own: secrets read from ``*_FILE`` paths.

``DRIFTD_SCRUB__HMAC_KEY_FILE=/run/secrets/hmac`` sets ``scrub.hmac_key`` to the
file's content (trailing newline stripped), the convention of Docker and
Kubernetes secrets. The plain variable, when also set, wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from driftd.errors import ConfigError

__all__ = ["SecretFileEnvSource", "WithoutFileKeys"]

_PREFIX = "DRIFTD_"
_SUFFIX = "_FILE"


class SecretFileEnvSource(PydanticBaseSettingsSource):
    """Reads ``DRIFTD_<SECTION>__<KEY>_FILE`` variables into nested settings."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, path in os.environ.items():
            if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
                continue
            direct = name[: -len(_SUFFIX)]
            if direct in os.environ:
                continue
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    [(name, path, f"cannot read the secret file ({exc.strerror}); fix the path")]
                ) from None
            keys = direct[len(_PREFIX) :].lower().split("__")
            node = out
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        return out


class WithoutFileKeys(PydanticBaseSettingsSource):
    """Wraps the environment source so ``*_FILE`` variables are not taken as settings keys."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        return _strip_file_keys(self.inner())


def _strip_file_keys(node: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _strip_file_keys(value) if isinstance(value, dict) else value
        for key, value in node.items()
        if not key.lower().endswith("_file")
    }
