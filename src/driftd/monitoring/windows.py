"""A model's open window and how its windows are cut: the state the monitor checkpoints.

:class:`WindowPlan` says how windows are cut and judged (the monitor's
defaults, or a model's own settings); :class:`OpenWindow` is one model and
baseline version's window in progress with everything that must survive a
restart: bin counts, the offsets counted, persistence streaks, stream
detectors, segment slices, the time span. :class:`RetryStep` is how the
caller retries a step that can fail on an outage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import orjson

from driftd.detectors import BaselineProfile, Binner, WindowCounts
from driftd.detectors.verdict import Persistence
from driftd.monitoring.judge import WindowJudge
from driftd.monitoring.results import WindowResult
from driftd.monitoring.segments import SegmentSlices
from driftd.monitoring.streams import StreamSet

__all__ = ["ClosedWindow", "OpenWindow", "RetryStep", "WindowPlan", "run_once"]

T = TypeVar("T")


class RetryStep(Protocol):
    """How the caller retries a step that can fail on an outage (the pipeline's backoff)."""

    def __call__(self, step: str, fn: Callable[[], T]) -> T: ...


def run_once(step: str, fn: Callable[[], T]) -> T:
    """A :class:`RetryStep` that does not retry."""
    return fn()


@dataclass(slots=True)
class ClosedWindow:
    """The results of one window that just closed."""

    model: str
    baseline_version: str
    window_id: int
    rows: list[WindowResult]

    @property
    def key(self) -> str:
        return f"{self.model}@{self.baseline_version}#{self.window_id}"


@dataclass(frozen=True)
class WindowPlan:
    """How one model's windows are cut and judged (the monitor's defaults, or a model's own)."""

    window_size: int = 1_000
    duration_s: float | None = None
    idle_timeout_s: float | None = None
    judge: WindowJudge = field(default_factory=WindowJudge)
    stream_detector: str | None = "adwin"
    stream_features: tuple[str, ...] = ()
    segment_keys: tuple[str, ...] = ()
    max_segments: int = 20

    def __post_init__(self) -> None:
        if self.max_segments < 0:
            raise ValueError(f"max_segments must be >= 0, got {self.max_segments}")
        if self.window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {self.window_size}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s}")
        if self.idle_timeout_s is not None and self.idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {self.idle_timeout_s}")


@dataclass(slots=True)
class OpenWindow:
    model: str
    version: str
    profile: BaselineProfile
    binner: Binner
    plan: WindowPlan
    window_id: int = 0
    counts: WindowCounts | None = None
    offsets: dict[str, int] = field(default_factory=dict)
    streaks: Persistence = field(default_factory=lambda: Persistence(1))
    streams: StreamSet = field(default_factory=lambda: StreamSet("", {}))
    slices: SegmentSlices = field(default_factory=SegmentSlices)
    bucket: int | None = None  # time windows: the open window's span (event time // duration)
    seen_at: float = 0.0  # wall clock of the last event counted (idle timeout)
    dirty: bool = False

    @property
    def key(self) -> str:
        return f"window:{self.model}@{self.version}"

    def filled(self) -> int:
        return 0 if self.counts is None else self.counts.n

    def state(self) -> str:
        """The checkpoint: JSON (orjson, counts serialised from their arrays: a window's
        grids hold thousands of counts)."""
        return orjson.dumps(
            {
                "model": self.model,
                "baseline_version": self.version,
                "window_id": self.window_id,
                "offsets": self.offsets,
                "counts": None if self.counts is None else self.counts.to_dict(arrays=True),
                "streaks": self.streaks.to_dict(),
                "bucket": self.bucket,
                "streams": self.streams.to_dict(),
                "slices": self.slices.to_dict(arrays=True),
            },
            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
        ).decode()
