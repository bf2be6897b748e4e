"""Every subpackage's ``__all__`` is honest: each name exists, none is listed twice."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "driftd.alerting",
    "driftd.api",
    "driftd.collector",
    "driftd.config",
    "driftd.detectors",
    "driftd.monitoring",
    "driftd.shim",
    "driftd.storage",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist_and_are_unique(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
    assert module.__doc__, f"{name} needs a docstring saying what it holds"


@pytest.mark.parametrize("name", ["driftd.collector", "driftd.config", "driftd.storage"])
def test_public_classes_of_submodules_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    for sub in ("pipeline", "scrub", "settings", "clickhouse", "control"):
        try:
            child = importlib.import_module(f"{name}.{sub}")
        except ModuleNotFoundError:
            continue
        for public in getattr(child, "__all__", []):
            if public[0].isupper() and public.isidentifier() and not public.isupper():
                assert public in module.__all__, f"{name} does not export {public}"
