"""The running parts of a driftd process, built once by the daemon and passed around.

Nothing is built at import time: :func:`build_services` is called by the
daemon (or a test) with validated settings, and :meth:`Services.close`
releases everything in reverse order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from driftd.alerting.service import Alerting, build_alerting
from driftd.collector.deadletter import DeadLetterSink, KafkaDeadLetters, StoreDeadLetters
from driftd.collector.forward import KafkaForwarder
from driftd.collector.http_ingest import BatchProcessor, HttpIngest
from driftd.collector.kafka_source import kafka_reachable, make_producer
from driftd.collector.pipeline import Pipeline, Retry
from driftd.collector.scrub import Scrubber
from driftd.collector.validate import Validator
from driftd.config import Settings, WindowSettings
from driftd.detectors.perf_verdict import PerformancePolicy
from driftd.detectors.verdict import Policy
from driftd.events import EventLimits
from driftd.metrics import Metrics
from driftd.monitoring import (
    DAY_MS,
    DriftMonitor,
    GaugeSink,
    PerformanceMonitor,
    PerformancePlan,
    ResultSink,
    StorageSink,
    Ticker,
    WindowJudge,
    WindowPlan,
)
from driftd.storage.apikeys import ApiKey, ApiKeyStore, MemoryApiKeys, SqlApiKeys, keys_from_file
from driftd.storage.base import ControlStoreProtocol, EventStoreProtocol

__all__ = ["Services", "build_services"]

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the roles share."""

    settings: Settings
    store: EventStoreProtocol
    control: ControlStoreProtocol
    metrics: Metrics
    monitor: DriftMonitor
    pipeline: Pipeline
    ingest: HttpIngest
    stopping: threading.Event
    kafka_ready: Callable[[], bool]
    alerting: Alerting
    sinks: list[ResultSink] = field(default_factory=list)
    performance: PerformanceMonitor | None = None
    api_keys: ApiKeyStore = field(default_factory=MemoryApiKeys)
    static_keys: tuple[ApiKey, ...] = ()
    """Keys from ``api.keys_path`` (digested when read), beside those in the store."""
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # one failing close must not leak the others
                logger.exception("error while closing")
        self._closers.clear()


def scrubber_from(settings: Settings) -> Scrubber:
    key = settings.scrub.hmac_key
    return Scrubber(
        settings.scrub.fields,
        hmac_key=key.get_secret_value().encode() if key is not None else None,
        default_sensitive=settings.scrub.default_sensitive,
        values={str(kind): action for kind, action in settings.scrub.values.items()},
    )


def plan_from(w: WindowSettings) -> WindowPlan:
    """How windows are cut and judged, from a window section."""
    return WindowPlan(
        window_size=w.size,
        duration_s=w.duration_s,
        idle_timeout_s=w.idle_timeout_s,
        judge=judge_from(w),
        stream_detector=w.stream_detector,
        stream_features=tuple(w.stream_features),
        segment_keys=tuple(w.segment_keys),
        max_segments=w.max_segments,
    )


def judge_from(w: WindowSettings) -> WindowJudge:
    """The window tests and verdict policy a window section names."""
    policy = Policy(
        alpha_warning=w.alpha_warning,
        alpha_critical=w.alpha_critical,
        correction=w.correction,
        persistence=w.persistence,
        min_window=w.min_size,
    )
    return WindowJudge(w.tests, policy)


def performance_from(
    settings: Settings,
    store: EventStoreProtocol,
    control: ControlStoreProtocol,
    sinks: Sequence[ResultSink],
) -> PerformanceMonitor | None:
    """The performance monitor the ``performance`` section asks for (``None`` if disabled)."""
    p = settings.performance
    if not p.enabled:
        return None
    plan = PerformancePlan(
        window_ms=int(p.window_s * 1000),
        horizon_ms=int(p.horizon_days * DAY_MS),
        policy=PerformancePolicy(
            warning=p.warning_drop,
            critical=p.critical_drop,
            relative=p.relative,
            min_labelled=p.min_labelled,
        ),
        segment_keys=tuple(p.segment_keys),
        max_segments=p.max_segments,
        error_detector=p.stream_detector,
        resamples=p.bootstrap_resamples,
    )
    return PerformanceMonitor(store, control, sinks, plan)


def limits_from(settings: Settings) -> EventLimits:
    return EventLimits(**settings.limits.model_dump())


def _dead_letter_sink(
    settings: Settings,
    producer: object | None,
    store: EventStoreProtocol,
    closers: list[Callable[[], None]],
) -> DeadLetterSink:
    """The dead-letter topic through a producer of the configured client's own
    (confluent-kafka with ``kafka.client: confluent``, else kafka-python), or the
    event store without Kafka (``producer`` None). The HTTP forwarder's event
    producer stays kafka-python either way."""
    topic = settings.kafka.deadletter_topic
    if producer is None:
        return StoreDeadLetters(store)
    if settings.kafka.client == "confluent":
        from driftd.collector.confluent_deadletter import ConfluentDeadLetters

        sink = ConfluentDeadLetters.connect(settings.kafka, topic)
        closers.append(sink.close)
        return sink
    # its own producer, not idempotent (make_producer): a letter refused alone
    # must leave the producer usable, the forwarder's included
    letters = make_producer(settings.kafka, idempotent=False)
    closers.append(lambda: letters.close(timeout=10))
    return KafkaDeadLetters(letters, topic)


def build_services(
    settings: Settings,
    *,
    store: EventStoreProtocol | None = None,
    control: ControlStoreProtocol | None = None,
    dead_letters: DeadLetterSink | None = None,
) -> Services:
    """Open storage, migrate it, and wire the pipeline (stores may be injected)."""
    from driftd.storage.clickhouse import EventStore
    from driftd.storage.control import ControlStore

    closers: list[Callable[[], None]] = []
    st = settings.storage
    try:
        if store is None:
            _ensure_dir(st.clickhouse_url, "chdb://")
            store = EventStore.connect(st.clickhouse_url, st.database, st.raw_ttl_days)
            closers.append(store.close)
        store.migrate()
        if control is None:
            _ensure_dir(st.control_url, "sqlite:///")
            control = ControlStore(st.control_url)
            closers.append(control.close)
        control.migrate()
        producer = None
        if settings.kafka.enabled:
            producer = make_producer(settings.kafka)
            closers.append(lambda: producer.close(timeout=10))
        if dead_letters is None:
            dead_letters = _dead_letter_sink(settings, producer, store, closers)
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise
    metrics = Metrics()
    stopping = threading.Event()
    retry = Retry(
        st.retry_initial_ms / 1000,
        max(st.retry_max_ms, st.retry_initial_ms) / 1000,
        stopping,
    )
    alerting = build_alerting(settings, control, metrics, stopping)
    closers.append(alerting.close)
    sinks: list[ResultSink] = [StorageSink(store), GaugeSink(metrics), alerting.sink]
    default = plan_from(settings.window)
    monitor = DriftMonitor(
        store,
        control,
        window_size=default.window_size,
        judge=default.judge,
        sinks=sinks,
        duration_s=default.duration_s,
        idle_timeout_s=default.idle_timeout_s,
        stream_detector=default.stream_detector,
        stream_features=default.stream_features,
        plans={model: plan_from(settings.window_for(model)) for model in settings.models},
    )
    ticker = Ticker(monitor, interval_s=1.0, retry=retry)
    ticker.start()
    closers.append(ticker.stop)
    performance = performance_from(settings, store, control, sinks)
    if performance is not None:
        recompute = Ticker(
            performance,
            settings.performance.recompute_interval_s,
            retry,
            name="driftd-performance-ticker",
        )
        recompute.start()
        closers.append(recompute.stop)
    pipeline = Pipeline(
        store=store,
        monitor=monitor,
        scrubber=scrubber_from(settings),
        dead_letters=dead_letters,
        metrics=metrics,
        limits=limits_from(settings),
        retry=retry,
        recent_ids=settings.collector.recent_ids,
        performance=performance,
    )
    pipeline.validator.fast = settings.collector.fast_path
    kafka = settings.kafka
    api_keys: ApiKeyStore = (
        SqlApiKeys(control) if isinstance(control, ControlStore) else MemoryApiKeys()
    )
    static_keys = keys_from_file(settings.api.keys_path) if settings.api.keys_path else ()
    sink: BatchProcessor = pipeline
    if producer is not None:
        validator = Validator(
            pipeline.scrubber, monitor.known_model, metrics, pipeline.limits, keep_objects=True
        )
        topics = {"predictions": kafka.predictions_topic, "outcomes": kafka.outcomes_topic}
        # a new producer replaces one Kafka refused a record through (fatal in kafka-python)
        forwarder = KafkaForwarder(
            validator, producer, topics, dead_letters, renew=lambda: make_producer(kafka)
        )
        closers.append(forwarder.close)  # the producer in use; the first one is closed too
        sink = forwarder
    ingest = HttpIngest(
        sink,
        max_events=settings.collector.batch_max_events,
        max_wait_ms=settings.collector.batch_max_wait_ms,
    )
    return Services(
        settings=settings,
        store=store,
        control=control,
        metrics=metrics,
        monitor=monitor,
        pipeline=pipeline,
        ingest=ingest,
        stopping=stopping,
        kafka_ready=(lambda: kafka_reachable(kafka)) if kafka.enabled else (lambda: True),
        sinks=sinks,
        alerting=alerting,
        performance=performance,
        api_keys=api_keys,
        static_keys=static_keys,
        _closers=closers,
    )


def _ensure_dir(url: str, scheme: str) -> None:
    """Create the parent directory of an embedded store's path."""
    from pathlib import Path

    if url.startswith(scheme):
        path = Path(url[len(scheme) :].split("?", maxsplit=1)[0])
        target = path if scheme == "chdb://" else path.parent
        target.mkdir(parents=True, exist_ok=True)
