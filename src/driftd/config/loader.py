"""Build :class:`Settings` from a YAML file and the environment, or explain what is wrong."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsConfigDict, SettingsError

from driftd.config.settings import Settings
from driftd.errors import ConfigError

__all__ = ["load_settings", "unknown_environment"]

#: ``DRIFTD_*`` variables that are not settings but are read by the command line.
CLI_VARIABLES = frozenset({"DRIFTD_CONFIG"})


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


def _known_variables() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every settings variable, and the prefixes under which any name is a key (dicts)."""
    names: set[str] = set()
    open_prefixes: list[str] = []
    for name, field in Settings.model_fields.items():
        top = f"DRIFTD_{name.upper()}"
        names.add(top)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f"{top}__{key.upper()}" for key in annotation.model_fields)
        elif getattr(annotation, "__origin__", None) is dict:
            open_prefixes.append(f"{top}__")
    return frozenset(names), tuple(open_prefixes)


def unknown_environment(environ: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``DRIFTD_*`` variables that set nothing (typos), as :class:`ConfigError` problems.

    pydantic-settings ignores a variable that names no key, so a typo would
    silently leave the default in place; this names it, with the closest key.

    >>> unknown_environment({"DRIFTD_WINDOW_SIZE": "5", "DRIFTD_WINDOW__SIZE": "5"})[0][:2]
    ('DRIFTD_WINDOW_SIZE', "'5'")
    >>> unknown_environment({"DRIFTD_MODELS__CHURN__WINDOW": "{}", "DRIFTD_CONFIG": "x"})
    []
    """
    known, open_prefixes = _known_variables()
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("DRIFTD_") or upper in CLI_VARIABLES:
            continue
        direct = upper.removesuffix("_FILE") if upper.endswith("_FILE") else upper
        if direct in known or upper in known or direct.startswith(open_prefixes):
            continue
        close = difflib.get_close_matches(direct, sorted(known), n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}?" if close else "see deploy/driftd.example.yaml for keys"
        problems.append((name, _shown(name.lower(), environ[name]), f"unknown variable; {hint}"))
    return problems
