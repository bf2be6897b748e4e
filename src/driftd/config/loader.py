"""Build :class:`Settings` from a YAML file and the environment, or explain what is wrong."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsConfigDict, SettingsError

from driftd.config.settings import Settings
from driftd.errors import ConfigError

__all__ = ["load_settings"]


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` naming every bad key.

    ``path`` is the YAML file (``None``: environment and defaults only).
    """
    yaml_file: Path | None = None
    if path is not None:
        yaml_file = Path(path)
        _check_yaml(yaml_file)

    class _Loaded(Settings):
        model_config = SettingsConfigDict(yaml_file=yaml_file)

    try:
        return _Loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError([_problem(err) for err in exc.errors()]) from None
    except SettingsError as exc:
        raise ConfigError(
            [("environment", "", f"{exc}; values of list/dict keys are JSON")]
        ) from None


def _check_yaml(path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([("--config", str(path), f"cannot read it ({exc.strerror})")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("--config", str(path), f"not valid YAML: {exc}")]) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError([("--config", str(path), "the file must hold a mapping of sections")])


def _problem(err: Any) -> tuple[str, str, str]:
    loc = [str(part) for part in err["loc"]]
    fix = err["msg"].removeprefix("Value error, ")
    head, sep, rest = fix.partition(": ")
    if sep and head.replace(".", "").replace("_", "").isalnum():
        # a cross-field check names its key first, relative to where it ran: "a.b: fix"
        loc, fix = loc + head.split("."), rest
        err = {**err, "input": None}
    key = ".".join(loc) or "settings"
    value = "" if err["type"] == "missing" else _shown(key, err.get("input"))
    if err["type"] == "extra_forbidden":
        fix = "unknown key" + _suggest(loc)
    # inside a list (alerting.rules.0.name) the environment sets the whole list, as JSON
    head = loc[: next((i for i, part in enumerate(loc) if part.isdigit()), len(loc))]
    env = "DRIFTD_" + "__".join(part.upper() for part in head)
    return key, value, f"{fix} (env {env}{', JSON' if len(head) < len(loc) else ''})"


def _shown(key: str, value: Any) -> str:
    if any(word in key for word in ("key", "secret", "password", "token")):
        return "<hidden>"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _suggest(loc: list[str]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        if part.isdigit():
            continue  # an item of a list: its model is the list's item type, found below
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        for arg in typing.get_args(annotation):  # list[AlertRule] → AlertRule
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                annotation = arg
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(model.model_fields)}"
