"""Judging one closed window: every configured test on every column, then verdicts.

Pure given its inputs (a profile, a window's counts, tests, a policy); the
monitor calls it when a window closes. A column with no value in the window
still gets its data-quality results (a missing rate of 1, a mismatch rate of
1): a feature that stops arriving or changes type is a finding, not a gap.
The prediction is reported under its baseline column name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from driftd.detectors.base import Finding, WindowTest
from driftd.detectors.latency import latency_quantiles
from driftd.detectors.profiles import PREDICTION_KEY, BaselineProfile, Profile
from driftd.detectors.registry import DEFAULT_TESTS, WINDOW_TESTS
from driftd.detectors.verdict import Policy, severities
from driftd.detectors.window import WindowCounts
from driftd.monitoring.results import WindowResult

__all__ = ["LATENCY_METRICS", "WindowJudge"]

LATENCY_METRICS = (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99))


@dataclass(frozen=True, slots=True)
class WindowId:
    model: str
    baseline_version: str
    window_id: int
    segment: str = ""


class WindowJudge:
    """Runs the named window tests (from the registry) and the policy on closed windows.

    Unknown test names raise ``ValueError`` naming them, so a typo in the
    config fails at start-up.
    """

    def __init__(self, tests: Sequence[str] = DEFAULT_TESTS, policy: Policy | None = None) -> None:
        unknown = [t for t in tests if t not in WINDOW_TESTS]
        if unknown:
            raise ValueError(f"unknown window tests {unknown}; known: {sorted(WINDOW_TESTS)}")
        self.tests: list[WindowTest] = [WINDOW_TESTS[t]() for t in tests]
        self.policy = policy if policy is not None else Policy()

    def columns(self, profile: BaselineProfile) -> list[tuple[str, str, Profile]]:
        """(key in the window, name in results, profile) for every monitored column."""
        out = [(name, name, p) for name, p in profile.features.items()]
        if profile.prediction is not None:
            out.append((PREDICTION_KEY, profile.prediction.name, profile.prediction))
        out.extend((p.name, p.name, p) for p in profile.probabilities.values())
        return out

    def judge(
        self, profile: BaselineProfile, counts: WindowCounts, window: WindowId
    ) -> list[WindowResult]:
        """Every result of one window, with its raw severity (before persistence)."""
        found: list[tuple[str, Finding]] = []
        for key, name, reference in self.columns(profile):
            column = counts.column(key)
            for test in self.tests:
                if reference.kind in test.kinds:
                    finding = test.judge(reference, column)
                    if finding is not None:
                        found.append((name, finding))
        judged = counts.n >= self.policy.min_window
        learned = [profile.thresholds.get(name, {}).get(f.metric) for name, f in found]
        verdicts = (
            severities([f for _, f in found], self.policy, learned)
            if judged
            else ["ok"] * len(found)
        )
        results = [
            self._result(counts, window, name, f.metric, f.value, f.p_value, f.effect_size, v)
            for (name, f), v in zip(found, verdicts, strict=True)
        ]
        if counts.latency.any():
            values = latency_quantiles(counts.latency, [q for _, q in LATENCY_METRICS])
            for (metric, _), value in zip(LATENCY_METRICS, values, strict=True):
                results.append(self._result(counts, window, "", metric, value, None, None, "ok"))
        return results

    def stream_results(
        self,
        profile: BaselineProfile,
        counts: WindowCounts,
        window: WindowId,
        kind: str,
        fired: dict[str, int],
    ) -> list[WindowResult]:
        """One result per stream column: changes detected while the window was open.

        A detected change is a ``warning`` (never ``critical``: a stream
        detector says *when*, the window tests say *how much*).
        """
        names = {key: name for key, name, _ in self.columns(profile)}
        return [
            self._result(counts, window, names[key], kind, float(n), None, float(n),
                         "warning" if n and counts.n >= self.policy.min_window else "ok")
            for key, n in sorted(fired.items())
        ]  # fmt: skip

    def count_result(
        self, counts: WindowCounts, window: WindowId, metric: str, value: int
    ) -> WindowResult:
        """A model-wide count of the window (feature ``""``), reported, not judged."""
        return self._result(counts, window, "", metric, float(value), None, None, "ok")

    @staticmethod
    def _result(
        counts: WindowCounts,
        window: WindowId,
        feature: str,
        metric: str,
        value: float,
        p_value: float | None,
        effect: float | None,
        severity: str,
    ) -> WindowResult:
        return WindowResult(
            model=window.model,
            baseline_version=window.baseline_version,
            window_id=window.window_id,
            window_start_ms=counts.first_ms,
            window_end_ms=counts.last_ms,
            n=counts.n,
            feature=feature,
            metric=metric,
            value=value,
            p_value=p_value,
            effect_size=effect,
            severity=severity,  # type: ignore[arg-type]
            segment=window.segment,
        )
