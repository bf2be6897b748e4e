"""Baseline profiles: what detectors know about a model version's training data.

A :class:`BaselineProfile` is immutable and identified by its
:attr:`~BaselineProfile.fingerprint`, the SHA-256 of its canonical JSON
(sorted keys, no whitespace, floats in shortest round-trip form). The same data
in the same order gives the same fingerprint whether it was profiled from CSV,
Parquet or a DataFrame. ``to_dict()``/``from_dict()`` round-trip through JSON
exactly; the JSON never holds NaN.

Profiles are built by :mod:`driftd.detectors.baseline`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any, ClassVar

from driftd.errors import BaselineError

__all__ = [
    "PREDICTION_KEY",
    "BaselineProfile",
    "CategoricalProfile",
    "NumericProfile",
    "Profile",
    "profile_from_dict",
]

PREDICTION_KEY = "__prediction__"
"""Reserved name under which windows and results carry the prediction."""

SCHEMA_VERSION = 1
_SUM_TOLERANCE = 1e-6


def _floats(name: str, values: list[float]) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite")
    return out


def _check_proportions(proportions: list[float], bins: int) -> None:
    if len(proportions) != bins:
        raise ValueError(f"proportions must have {bins} entries, got {len(proportions)}")
    if min(proportions) < 0 or abs(math.fsum(proportions) - 1.0) > _SUM_TOLERANCE:
        raise ValueError("proportions must be >= 0 and sum to 1")


def _check_counts(profile: NumericProfile | CategoricalProfile) -> None:
    count, null_rate = int(profile.count), float(profile.null_rate)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if not 0.0 <= null_rate <= 1.0:
        raise ValueError(f"null_rate must be in [0, 1], got {null_rate}")
    object.__setattr__(profile, "count", count)
    object.__setattr__(profile, "null_rate", null_rate)


@dataclass(frozen=True)
class NumericProfile:
    """A numeric column: fixed bins (open-ended outer bins), a KS sample, moments.

    Bin ``i`` holds ``edges[i-1] <= x < edges[i]``.

    >>> p = NumericProfile("x", edges=[0.0], proportions=[0.25, 0.75], sample=[-1.0, 1.0],
    ...                    count=4, null_rate=0.0, min=-1.0, max=2.0, mean=0.5, std=1.0)
    >>> NumericProfile.from_dict(p.to_dict()) == p
    True
    """

    kind: ClassVar[str] = "numeric"

    name: str
    edges: list[float]
    proportions: list[float]
    sample: list[float]
    count: int
    null_rate: float
    min: float
    max: float
    mean: float
    std: float

    def __post_init__(self) -> None:
        edges = _floats("edges", self.edges)
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("edges must be strictly increasing")
        proportions = _floats("proportions", self.proportions)
        _check_proportions(proportions, len(edges) + 1)
        _check_counts(self)
        for key in ("min", "max", "mean", "std"):
            object.__setattr__(self, key, _floats(key, [getattr(self, key)])[0])
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "proportions", proportions)
        object.__setattr__(self, "sample", _floats("sample", self.sample))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "edges": list(self.edges),
            "proportions": list(self.proportions),
            "sample": list(self.sample),
            "count": self.count,
            "null_rate": self.null_rate,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**fields)


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical column: top-K categories plus "other", and the known set.

    ``proportions`` has ``len(categories) + 1`` entries, the last being the mass
    of every category outside the top K. ``known`` lists every category seen
    when there were few enough to keep, else ``None`` (then a new category
    cannot be told from "other"). ``numeric_codes``: the column held numbers
    declared categorical; live numbers are then categories too (``3.0`` is
    ``"3"``), not type mismatches. ``seen``: when there were too many categories
    to keep ``known``, a :class:`~driftd.detectors.bloom.BloomFilter` of them all
    (as its ``to_dict()``), so never-seen categories are still told apart.

    >>> p = CategoricalProfile("c", categories=["a"], proportions=[0.75, 0.25],
    ...                        known=["a", "b"], count=4, null_rate=0.2)
    >>> CategoricalProfile.from_dict(p.to_dict()) == p
    True
    """

    kind: ClassVar[str] = "categorical"

    name: str
    categories: list[str]
    proportions: list[float]
    known: list[str] | None
    count: int
    null_rate: float
    numeric_codes: bool = False
    seen: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        categories = [str(c) for c in self.categories]
        if len(set(categories)) != len(categories):
            raise ValueError("categories must be distinct")
        proportions = _floats("proportions", self.proportions)
        _check_proportions(proportions, len(categories) + 1)
        _check_counts(self)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "proportions", proportions)
        if self.known is not None:
            object.__setattr__(self, "known", sorted(str(c) for c in self.known))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "categories": list(self.categories),
            "proportions": list(self.proportions),
            "known": None if self.known is None else list(self.known),
            "count": self.count,
            "null_rate": self.null_rate,
            # only when set, so that profiles made before it keep their fingerprints
            **({"numeric_codes": True} if self.numeric_codes else {}),
            **({"seen": dict(self.seen)} if self.seen is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**fields)


Profile = NumericProfile | CategoricalProfile


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Rebuild a column profile from ``to_dict()`` output, by its ``kind``."""
    kind = data.get("kind")
    if kind == NumericProfile.kind:
        return NumericProfile.from_dict(data)
    if kind == CategoricalProfile.kind:
        return CategoricalProfile.from_dict(data)
    raise ValueError(f"unknown profile kind: {kind!r}")


def _canonical(payload: dict[str, Any]) -> bytes:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode()


@dataclass(frozen=True)
class BaselineProfile:
    """The profile of one model version's training data; immutable, fingerprinted.

    >>> import numpy as np, pandas as pd
    >>> from driftd.detectors.baseline import profile_dataframe
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500),
    ...                    "y": rng.random(500)})
    >>> p = profile_dataframe(df, "credit-risk", "v1", prediction="y", metrics={"auc": 0.8})
    >>> sorted(p.features), len(p.features["x"].edges), p.features["c"].categories
    (['c', 'x'], 9, ['a', 'b'])
    >>> BaselineProfile.from_dict(p.to_dict()).fingerprint == p.fingerprint
    True
    """

    model: str
    version: str
    n_rows: int
    features: dict[str, Profile]
    prediction: Profile | None = None
    label: Profile | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    probabilities: dict[str, Profile] = field(default_factory=dict)
    """Class label -> profile of the column holding that class's predicted probability."""
    thresholds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Column -> metric -> [warning, critical] effect-size floors learned from the data."""

    def __post_init__(self) -> None:
        if self.n_rows < 1:
            raise ValueError(f"n_rows must be >= 1, got {self.n_rows}")
        if not self.features:
            raise ValueError("features must not be empty")
        if PREDICTION_KEY in self.features:
            raise ValueError(f"{PREDICTION_KEY!r} is reserved and cannot name a feature")
        for name, profile in self.features.items():
            if profile.name != name:
                raise ValueError(f"features[{name!r}] profiles column {profile.name!r}")
        metrics = {str(k): float(v) for k, v in self.metrics.items()}
        if not all(math.isfinite(v) for v in metrics.values()):
            raise ValueError("metrics must be finite")
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "features", dict(self.features))
        object.__setattr__(self, "probabilities", dict(self.probabilities))
        clash = {p.name for p in self.probabilities.values()} & {*self.features, PREDICTION_KEY}
        if clash:
            raise ValueError(f"probability columns {sorted(clash)} are also features")
        object.__setattr__(self, "n_rows", int(self.n_rows))

    def _payload(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "version": self.version,
            "n_rows": self.n_rows,
            "features": {name: p.to_dict() for name, p in self.features.items()},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "label": None if self.label is None else self.label.to_dict(),
            "metrics": dict(self.metrics),
            # only when set, so that profiles made before it keep their fingerprints
            **(
                {"probabilities": {c: p.to_dict() for c, p in self.probabilities.items()}}
                if self.probabilities
                else {}
            ),
            **({"thresholds": self.thresholds} if self.thresholds else {}),
        }

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical JSON of everything but the fingerprint."""
        return hashlib.sha256(_canonical(self._payload())).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (no NaN) carrying the fingerprint."""
        return {**self._payload(), "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineProfile:
        """Rebuild from ``to_dict()`` output; a stated fingerprint must match."""
        try:
            if data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
                raise ValueError(f"unsupported schema_version {data['schema_version']!r}")
            profile = cls(
                model=data["model"],
                version=data["version"],
                n_rows=data["n_rows"],
                features={k: profile_from_dict(v) for k, v in data["features"].items()},
                prediction=_optional(data.get("prediction")),
                label=_optional(data.get("label")),
                metrics=data.get("metrics") or {},
                probabilities={
                    str(c): profile_from_dict(p)
                    for c, p in (data.get("probabilities") or {}).items()
                },
                thresholds={
                    str(col): {str(m): [float(w), float(c)] for m, (w, c) in ms.items()}
                    for col, ms in (data.get("thresholds") or {}).items()
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(
                f"malformed baseline: {exc!r}",
                model=str(data.get("model", "")),
                version=str(data.get("version", "")),
            ) from exc
        stated = data.get("fingerprint")
        if stated is not None and stated != profile.fingerprint:
            raise BaselineError(
                "baseline fingerprint does not match its content",
                model=profile.model,
                version=profile.version,
            )
        return profile


def _optional(data: dict[str, Any] | None) -> Profile | None:
    return None if data is None else profile_from_dict(data)
