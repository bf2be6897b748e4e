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
        """Apply a batch of results; then promote whatever has been pending long enough."""
        now = self.clock()
        verdicts = self._verdicts(results)
        if not verdicts:
            return
        alerts = {a.fingerprint: a for a in self.store.list_alerts()}
        by_condition: dict[tuple[str, ...], list[AlertRecord]] = {}
        for alert in alerts.values():
            by_condition.setdefault(condition_of(alert.labels), []).append(alert)
        for cond, verdict in verdicts.items():
            wanted = fingerprint(verdict.labels) if verdict.severity != "ok" else None
            for alert in by_condition.get(cond, []):
                if alert.fingerprint != wanted and alert.state != "resolved":
                    self._resolve(alert, now)
            if wanted is not None:
                self._activate(alerts.get(wanted), verdict, wanted, now)
        self.promote()

    def _activate(self, alert: AlertRecord | None, verdict: _Verdict, fp: str, now: int) -> None:
        value = verdict.result.value
        if alert is None or alert.state == "resolved":
            fresh = AlertRecord(
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
            if not self.store.put_alert(fresh):
                logger.info("alert %s changed elsewhere; left as it is", fp)
            return
        alert.value, alert.updated_ms = value, now
        alert.detail, alert.annotations = verdict.detail(), verdict.annotations()
        if not self.store.put_alert(alert):
            logger.info("alert %s changed elsewhere; left as it is", fp)

    def _resolve(self, alert: AlertRecord, now: int) -> None:
        was_firing = alert.state == "firing"
        alert.state, alert.resolved_ms, alert.updated_ms = "resolved", now, now
        if not was_firing:
            alert.fired_ms = None  # pending that never fired: no notification, nothing to resolve
        self.store.put_alert(alert)

    def promote(self) -> list[AlertRecord]:
        """Fire pending alerts whose rule's ``for`` has passed; return the ones fired now."""
        now = self.clock()
        holds = {rule.name: rule.for_ms for rule in self.rules}
        fired: list[AlertRecord] = []
        for alert in self.store.list_alerts(["pending"]):
            hold = holds.get(alert.labels.get("alertname", ""), 0)
            if now - alert.active_ms >= hold:
                alert.state, alert.fired_ms, alert.updated_ms = "firing", now, now
                if self.store.put_alert(alert):
                    fired.append(alert)
        return fired
