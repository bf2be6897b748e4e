"""`driftd.detectors.__all__` names what its modules export, and nothing else."""

from __future__ import annotations

import importlib

from driftd import detectors

MODULES = ["baseline", "perf_verdict", "performance", "profiles", "psi", "window"]


def test_all_names_resolve() -> None:
    for name in detectors.__all__:
        assert hasattr(detectors, name), name


def test_every_public_name_is_exported() -> None:
    exported = set(detectors.__all__)
    for module in MODULES:
        names = importlib.import_module(f"driftd.detectors.{module}").__all__
        assert set(names) <= exported, (module, set(names) - exported)
