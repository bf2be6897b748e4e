"""The alert state machine: results → alerts, pending → firing → resolved.

An alert is the label set ``alertname`` (the rule), ``model``, ``feature``,
``metric``, ``severity`` (plus ``segment`` for a slice and the rule's own
labels), identified by its fingerprint. A rule judges every result it matches;
a severity other than ``ok`` makes its alert active (``pending``), and once
that has held for the rule's ``for`` it fires. A later result of the same
rule, model, feature, metric and segment with another severity resolves it (a
critical alert resolves the warning one for the same condition, and the other
way round). State lives in the control store; every write is compare-and-set,
so a stale writer (another collector, a restarted process) changes nothing.

Time comes from ``clock`` (epoch ms), injected so tests need not sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from driftd.alerting.labels import fingerprint
from driftd.config.alerting import AlertingSettings, AlertRule
from driftd.monitoring.results import WindowResult
from driftd.storage.alert_records import AlertRecord
from driftd.storage.base import AlertStoreProtocol

__all__ = ["AlertEngine", "Clock", "condition_of"]

logger = logging.getLogger(__name__)

Clock = Callable[[], int]
_IDENTITY = ("alertname", "model", "feature", "metric", "segment")


def condition_of(labels: dict[str, str]) -> tuple[str, ...]:
    """What an alert is about, whatever its severity."""
    return tuple(labels.get(name, "") for name in _IDENTITY)


class _SafeDict(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _render(template: str, values: dict[str, object]) -> str:
    try:
        return template.format_map(_SafeDict(values))
    except (ValueError, IndexError, AttributeError):
        return template


@dataclass(frozen=True, slots=True)
class _Verdict:
    rule: AlertRule
    result: WindowResult
    severity: str

    @property
    def labels(self) -> dict[str, str]:
        r = self.result
        labels = {
            **self.rule.labels,
            "alertname": self.rule.name,
            "model": r.model,
            "feature": r.feature,
            "metric": r.metric,
            "severity": self.severity,
        }
        if r.segment:
            labels["segment"] = r.segment
        return labels

    def annotations(self) -> dict[str, str]:
        r = self.result
        values: dict[str, object] = {
            "model": r.model,
            "feature": r.feature or "(model)",
            "metric": r.metric,
            "value": r.value,
            "severity": self.severity,
            "baseline_version": r.baseline_version,
            "segment": r.segment,
            "window_id": r.window_id,
            "n": r.n,
        }
        return {k: _render(v, values) for k, v in self.rule.annotations.items()}

    def detail(self) -> dict[str, object]:
        r = self.result
        return {
            "baseline_version": r.baseline_version,
            "window_id": r.window_id,
            "window_start_ms": r.window_start_ms,
            "window_end_ms": r.window_end_ms,
            "n": r.n,
            "value": r.value,
            "p_value": r.p_value,
            "effect_size": r.effect_size,
            "segment": r.segment,
        }


class AlertEngine:
    """Keeps alert state in ``store`` from the results it is shown."""

    def __init__(self, settings: AlertingSettings, store: AlertStoreProtocol, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rules = settings.effective_rules

    def _verdicts(self, results: Iterable[WindowResult]) -> dict[tuple[str, ...], _Verdict]:
        """The latest verdict per condition (a later window of one condition wins)."""
        latest: dict[tuple[str, ...], _Verdict] = {}
        for result in results:
            for rule in self.rules:
                if rule.matches(result.model, result.metric, result.feature):
                    severity = rule.severity_for(result.value, result.severity)
                    verdict = _Verdict(rule, result, severity)
                    cond = condition_of(verdict.labels)
                    seen = latest.get(cond)
                    if seen is None or seen.result.window_id <= result.window_id:
                        latest[cond] = verdict
        return latest

    def observe(self, results: Sequence[WindowResult]) -> None:
        """Apply a batch of results (one transaction of writes)."""
        now = self.clock()
        verdicts = self._verdicts(results)
        if not verdicts:
            return
        alerts = {a.fingerprint: a for a in self.store.list_alerts()}
        by_condition: dict[tuple[str, ...], list[AlertRecord]] = {}
        for alert in alerts.values():
            by_condition.setdefault(condition_of(alert.labels), []).append(alert)
        writes: list[AlertRecord] = []
        for cond, verdict in verdicts.items():
            wanted = fingerprint(verdict.labels) if verdict.severity != "ok" else None
            for alert in by_condition.get(cond, []):
                if alert.fingerprint != wanted and alert.state != "resolved":
                    writes.append(self._resolved(alert, now))
            if wanted is not None:
                writes.append(self._active(alerts.get(wanted), verdict, wanted, now))
        lost = sum(not ok for ok in self.store.put_alerts(writes))
        if lost:
            logger.info("%d alerts changed elsewhere meanwhile; left as they are", lost)

    def _active(
        self, alert: AlertRecord | None, verdict: _Verdict, fp: str, now: int
    ) -> AlertRecord:
        value = verdict.result.value
        if alert is None or alert.state == "resolved":
            return AlertRecord(
                fingerprint=fp,
                labels=verdict.labels,
                annotations=verdict.annotations(),
                state="pending",
                active_ms=now,
                updated_ms=now,
                value=value,
                detail=verdict.detail(),
                version=alert.version if alert is not None else 0,
            )
        alert.value, alert.updated_ms = value, now
        alert.detail, alert.annotations = verdict.detail(), verdict.annotations()
        return alert

    @staticmethod
    def _resolved(alert: AlertRecord, now: int) -> AlertRecord:
        was_firing = alert.state == "firing"
        alert.state, alert.resolved_ms, alert.updated_ms = "resolved", now, now
        if not was_firing:
            alert.fired_ms = None  # pending that never fired: no notification, nothing to resolve
        return alert

    def promote(self) -> list[AlertRecord]:
        """Fire pending alerts whose rule's ``for`` has passed; return the ones fired now.

        Active alerts of a rule that is no longer configured resolve here: no
        result will ever resolve them otherwise.
        """
        now = self.clock()
        holds = {rule.name: rule.for_ms for rule in self.rules}
        writes: list[AlertRecord] = []
        fired: list[AlertRecord] = []
        for a in self.store.list_alerts(["pending", "firing"]):
            name = a.labels.get("alertname", "")
            if name not in holds:
                writes.append(self._resolved(a, now))
            elif a.state == "pending" and now - a.active_ms >= holds[name]:
                a.state, a.fired_ms, a.updated_ms = "firing", now, now
                writes.append(a)
                fired.append(a)
        if not writes:
            return []
        ok = dict(zip((id(a) for a in writes), self.store.put_alerts(writes), strict=True))
        return [a for a in fired if ok[id(a)]]
