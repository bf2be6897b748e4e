"""A model's report: one self-contained HTML page (inline SVG, no script, no CDN).

``gather`` reads what the page shows from storage: the baseline the newest
window was judged against (the newest, when nothing was judged), the drift
series of the range, the events of the newest window and the model's alerts;
``render`` draws it: baseline vs current distribution per feature, drift
severity per feature and window (a heatmap, with alert periods outlined), data
quality per feature, the alerts, and the numbers.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from driftd.errors import BaselineNotFoundError
from driftd.monitoring.results import severity_rank
from driftd.storage.alert_records import AlertRecord
from driftd.storage.base import AlertStoreProtocol, EventStoreProtocol
from driftd.storage.records import DriftMetric

__all__ = ["FeatureDistribution", "ReportData", "gather", "render"]

QUALITY_METRICS = ("missing_rate", "type_mismatch", "out_of_range", "unseen")
COLOURS = {"ok": "#2e7d32", "info": "#1565c0", "warning": "#ef6c00", "critical": "#c62828"}
MAX_WINDOWS = 60
"""Columns of the heatmap: the newest windows of the range."""


@dataclass(frozen=True)
class FeatureDistribution:
    """One feature's distribution in the baseline and in the newest window, on the same bins."""

    name: str
    kind: str
    labels: list[str]
    baseline: list[float]
    current: list[float]
    n_current: int


@dataclass
class ReportData:
    model: str
    baseline_version: str
    baseline_rows: int
    baseline_created_ms: int
    from_ms: int
    to_ms: int
    drift: list[DriftMetric]
    distributions: list[FeatureDistribution] = field(default_factory=list)
    generated_ms: int = 0
    alerts: list[AlertRecord] = field(default_factory=list)


def _current_proportions(
    profile: dict[str, Any], values: list[Any]
) -> tuple[list[str], list[float], list[float]]:
    """Bin labels, baseline proportions and the current values' proportions on those bins."""
    baseline = [float(p) for p in profile["proportions"]]
    if profile["kind"] == "numeric":
        edges = [float(e) for e in profile["edges"]]
        inner = [f"{_num(lo)} to {_num(hi)}" for lo, hi in itertools.pairwise(edges)]
        # bin i holds edges[i-1] <= x < edges[i]; the outer two are open (as the detectors bin)
        labels = [f"< {_num(edges[0])}", *inner, f">= {_num(edges[-1])}"]
        data = np.asarray([v for v in values if isinstance(v, float) and math.isfinite(v)])
        index = np.searchsorted(np.asarray(edges), data, side="right")
        counts = np.bincount(index, minlength=len(baseline))[: len(baseline)]
    else:
        labels = [str(c) for c in profile["categories"]]
        position = {c: i for i, c in enumerate(labels)}
        counts = np.zeros(len(labels), dtype=int)
        for v in values:
            if v is not None and str(v) in position:
                counts[position[str(v)]] += 1
    total = int(counts.sum())
    current = [float(c) / total if total else 0.0 for c in counts]
    return labels, baseline, current


def _num(x: float) -> str:
    return f"{x:.3g}"


def model_alerts(
    control: AlertStoreProtocol, model: str, from_ms: int, to_ms: int
) -> list[AlertRecord]:
    """The model's alerts that matter to the range: pending or firing, or resolved within it.

    Firing first, then pending, then resolved; newest first within each.
    """
    order = {"firing": 0, "pending": 1, "resolved": 2}
    alerts = [
        a for a in control.list_alerts()
        if a.labels.get("model") == model
        and (a.state != "resolved" or from_ms <= (a.resolved_ms or 0) <= to_ms)
    ]  # fmt: skip
    return sorted(alerts, key=lambda a: (order[a.state], -(a.fired_ms or a.active_ms)))


def gather(
    store: EventStoreProtocol,
    model: str,
    from_ms: int,
    to_ms: int,
    *,
    now_ms: int = 0,
    control: AlertStoreProtocol | None = None,
    step: Callable[[str], None] | None = None,
) -> ReportData:
    """What the report shows, read from storage (raises BaselineNotFoundError).

    ``control`` is where alerts are read (none: the report has no alerts);
    ``step(what)`` is told before each read, for progress.
    """
    say = step or (lambda _: None)
    say(f"reading the baseline of {model}")
    stored = store.get_baseline(model)
    profile: dict[str, Any] = json.loads(stored.profile_json)
    say("reading the drift results")
    drift = store.query_drift(model, from_ms, to_ms, limit=100_000)
    data = ReportData(
        model=model,
        baseline_version=stored.version,
        baseline_rows=stored.n_rows,
        baseline_created_ms=stored.created_ms,
        from_ms=from_ms,
        to_ms=to_ms,
        drift=drift,
        generated_ms=now_ms,
    )
    say("reading the alerts")
    if control is not None:
        data.alerts = model_alerts(control, model, from_ms, to_ms)
    say("reading the newest window's events")
    if not drift:
        return data
    judged = [r for r in drift if r.baseline_version]
    newest = max(judged or drift, key=lambda r: r.window_end_ms)
    if newest.baseline_version and newest.baseline_version != stored.version:
        # the distributions compare the newest window with the baseline it was judged
        # against, not with a newer one uploaded since
        with contextlib.suppress(BaselineNotFoundError):  # deleted since: the newest stays
            stored = store.get_baseline(model, newest.baseline_version)
            profile = json.loads(stored.profile_json)
            data.baseline_version = stored.version
            data.baseline_rows = stored.n_rows
            data.baseline_created_ms = stored.created_ms
    events = store.read_predictions(model, newest.window_start_ms, newest.window_end_ms + 1)
    for name, feature in sorted(profile.get("features", {}).items()):
        values: list[Any] = [
            e.num.get(name) if feature["kind"] == "numeric" else e.cat.get(name) for e in events
        ]
        labels, baseline, current = _current_proportions(feature, values)
        n = sum(1 for v in values if v is not None)
        data.distributions.append(
            FeatureDistribution(name, feature["kind"], labels, baseline, current, n)
        )
    return data


# --- rendering ---------------------------------------------------------------------


def _bars(dist: FeatureDistribution) -> str:
    """Grouped bars: baseline (grey) and current (blue) proportion per bin."""
    width, height, pad = 520, 200, 30
    n = max(1, len(dist.labels))
    top = max([*dist.baseline, *dist.current, 0.01])
    slot = (width - 2 * pad) / n
    parts = [
        f'<svg class="chart dist" role="img" aria-label="{html.escape(dist.name)}" '
        f'width="{width}" height="{height + 40}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, b, c) in enumerate(zip(dist.labels, dist.baseline, dist.current, strict=True)):
        x = pad + i * slot
        for j, (value, colour) in enumerate(((b, "#9e9e9e"), (c, "#1e88e5"))):
            h = (height - pad) * value / top
            parts.append(
                f'<rect x="{x + j * slot / 2 + 1:.1f}" y="{height - h:.1f}" '
                f'width="{max(slot / 2 - 2, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{html.escape(label)}: {'baseline' if j == 0 else 'current'} "
                f"{value:.3f}</title></rect>"
            )
        short = label.split(" to ")[0]  # a numeric bin by its lower edge; hover for the rest
        if n <= 16:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height + 14}" font-size="9" '
                f'text-anchor="middle">{html.escape(short[:8])}</text>'
            )
    parts.append(
        f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#333"/>'
        f'<rect x="{pad}" y="{height + 24}" width="10" height="10" fill="#9e9e9e"/>'
        f'<text x="{pad + 14}" y="{height + 33}" font-size="11">baseline</text>'
        f'<rect x="{pad + 80}" y="{height + 24}" width="10" height="10" fill="#1e88e5"/>'
        f'<text x="{pad + 94}" y="{height + 33}" font-size="11">current '
        f"(n={dist.n_current})</text></svg>"
    )
    return "".join(parts)


def _window(r: DriftMetric) -> tuple[int, str, int]:
    """A window's identity, in time order: windows closed in the same millisecond
    (a burst whose events carry no timestamp) stay apart."""
    return r.window_end_ms, r.baseline_version, r.window_id


def _alert_period(alert: AlertRecord) -> tuple[float, float]:
    """The window ends an alert covers: from the window that raised it until it resolved."""
    raised = alert.detail.get("window_end_ms")
    start = min(alert.active_ms, raised) if isinstance(raised, int) else alert.active_ms
    return start, math.inf if alert.resolved_ms is None else alert.resolved_ms


def _alerted(alerts: list[AlertRecord]) -> dict[str, list[tuple[float, float, str]]]:
    """Per feature, the periods of its alerts that fired, with a title for each."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for a in alerts:
        if a.fired_ms is None or "feature" not in a.labels:
            continue
        title = f"{a.labels.get('alertname', 'alert')} {a.labels.get('severity', '')} ({a.state})"
        out.setdefault(a.labels["feature"], []).append((*_alert_period(a), title))
    return out


def _heatmap(drift: list[DriftMetric], alerts: list[AlertRecord] | None = None) -> str:
    """Rows: features; columns: windows (oldest left); colour: the worst severity.

    A window during one of the feature's alerts is outlined in black.
    """
    rows = [r for r in drift if r.segment == "" and r.metric not in QUALITY_METRICS]
    windows = sorted({_window(r) for r in rows})[-MAX_WINDOWS:]
    features = sorted({r.feature for r in rows})
    worst: dict[tuple[str, tuple[int, str, int]], str] = {}
    for r in rows:
        key = (r.feature, _window(r))
        if key not in worst or severity_rank(r.severity) > severity_rank(worst[key]):
            worst[key] = r.severity
    periods = _alerted(alerts or [])
    cell, left = 18, 120
    width = max(left + cell * max(1, len(windows)) + 10, 260)
    height = cell * max(1, len(features)) + 30
    parts = [f'<svg class="chart heatmap" role="img" aria-label="drift severity" width="{width}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for i, feature in enumerate(features):
        y = i * cell
        name = html.escape(feature or "(model)")
        parts.append(f'<text x="{left - 6}" y="{y + cell - 3}" font-size="11" '
                     f'text-anchor="end">{name}</text>')  # fmt: skip
        for j, window in enumerate(windows):
            end = window[0]
            severity = worst.get((feature, window))
            if severity is None:
                continue
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{COLOURS[severity]}"><title>{name} {_time(end)}: {severity}</title></rect>'
            )
            titles = [t for lo, hi, t in periods.get(feature, []) if lo <= end <= hi]
            if titles:
                parts.append(
                    f'<rect class="alert-mark" x="{left + j * cell + 1.5}" y="{y + 1.5}" '
                    f'width="{cell - 4}" height="{cell - 4}" fill="none" stroke="#000" '
                    f'stroke-width="2"><title>{html.escape("; ".join(titles))}</title></rect>'
                )
    if windows:
        parts.append(
            f'<text x="{left}" y="{height - 8}" font-size="10">{_time(windows[0][0])}</text>'
        )
    if len(windows) > 1:
        parts.append(f'<text x="{width - 10}" y="{height - 8}" font-size="10" '
                     f'text-anchor="end">{_time(windows[-1][0])}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _latest(drift: list[DriftMetric]) -> dict[tuple[str, str], DriftMetric]:
    latest: dict[tuple[str, str], DriftMetric] = {}
    for r in drift:
        if r.segment:
            continue
        key = (r.feature, r.metric)
        if key not in latest or _window(r) > _window(latest[key]):
            latest[key] = r
    return latest


def _table(rows: list[list[str]], header: list[str], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badge(severity: str) -> str:
    return f'<span class="sev" style="background:{COLOURS[severity]}">{severity}</span>'


def _alerts(alerts: list[AlertRecord]) -> str:
    """The alerts table: state, severity, what, since and until."""
    if not alerts:
        return "<p>No alert of this model is pending, firing or resolved in this range.</p>"
    rows = []
    for a in alerts:
        severity = a.labels.get("severity", "")
        badge = _badge(severity) if severity in COLOURS else html.escape(severity)
        rest = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items())
                         if k not in ("alertname", "model", "severity"))  # fmt: skip
        summary = a.annotations.get("summary", "")
        until = "" if a.resolved_ms is None else _time(a.resolved_ms)
        rows.append([html.escape(a.state), badge, html.escape(a.labels.get("alertname", "")),
                     html.escape(rest), html.escape(summary), _time(a.active_ms),
                     "" if a.fired_ms is None else _time(a.fired_ms), until])  # fmt: skip
    header = ["state", "severity", "alert", "labels", "summary", "since", "fired", "resolved"]
    return _table(rows, header, "alerts")


def render(data: ReportData) -> str:
    """The report as one HTML document."""
    latest = _latest(data.drift)
    drift_rows = [
        [html.escape(f or "(model)"), html.escape(m), f"{r.value:.4g}", _badge(r.severity),
         str(r.window_id), _time(r.window_end_ms)]
        for (f, m), r in sorted(latest.items()) if m not in QUALITY_METRICS
    ]  # fmt: skip
    quality_rows = [
        [html.escape(f or "(model)"), html.escape(m), f"{r.value:.4g}", _badge(r.severity)]
        for (f, m), r in sorted(latest.items()) if m in QUALITY_METRICS
    ]  # fmt: skip
    overall = max((r.severity for r in latest.values()), key=severity_rank, default="ok")
    sections = [
        f"<h1>driftd report: {html.escape(data.model)}</h1>",
        f'<p class="meta">Baseline <b>{html.escape(data.baseline_version)}</b> '
        f"({data.baseline_rows} rows, created {_time(data.baseline_created_ms)} UTC); "
        f"range {_time(data.from_ms)} to {_time(data.to_ms)} UTC; "
        f"windows judged: {len({_window(r) for r in data.drift})}; "
        f"current severity {_badge(overall)}.</p>",
        "<h2>Drift over time</h2>",
        "<p>Each row a feature, each column a window (oldest left); the colour is the "
        "feature's worst severity in that window. A black outline marks a window during "
        "one of the feature's alerts.</p>",
        _heatmap(data.drift, data.alerts)
        if data.drift
        else "<p>No window has closed in this range.</p>",
        "<h2>Baseline vs current distribution</h2>",
        "<p>Proportions per bin (numeric) or category, in the baseline and in the newest "
        "window.</p>",
    ]
    if not data.distributions:
        sections.append("<p>No window has closed in this range.</p>")
    for dist in data.distributions:
        sections.append(f'<div class="feature"><h3>{html.escape(dist.name)} '
                        f'<small>({dist.kind})</small></h3>{_bars(dist)}</div>')  # fmt: skip
    sections += [
        "<h2>Newest verdicts</h2>",
        _table(drift_rows, ["feature", "metric", "value", "severity", "window", "window end"]),
        "<h2>Data quality</h2>",
        _table(quality_rows, ["feature", "metric", "value", "severity"])
        if quality_rows
        else "<p>No data-quality results in this range.</p>",
        "<h2>Alerts</h2>",
        "<p>Pending and firing alerts of this model, and those resolved in the range "
        "(times in UTC).</p>",
        _alerts(data.alerts),
        f'<p class="meta">Generated {_time(data.generated_ms)} UTC by driftd.</p>',
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>driftd report: {html.escape(data.model)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(sections)}</body></html>"
    )


_CSS = (
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
    "h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:1.5em}"
    ".meta{color:#555}.feature{display:inline-block;margin:0 1em 1em 0;vertical-align:top}"
    "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px}"
    ".sev{color:#fff;border-radius:3px;padding:1px 6px;font-size:.85em}"
)
