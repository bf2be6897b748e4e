"""The daemon: builds services, owns signals, runs the roles, drains in order.

Roles: ``collector`` (Kafka → pipeline; HTTP serves only ``/healthz``,
``/readyz`` and ``/metrics``), ``api`` (HTTP: ingest, queries, health,
metrics), ``all`` (both, in one process — the only choice with
embedded chDB, which one process at a time may open).

Shutdown on SIGTERM/SIGINT, in this order, each step bounded by a timeout:
stop polling Kafka and finish the batch in hand (store, judge, checkpoint,
commit, close the consumer); stop the HTTP server (in-flight requests finish);
flush queued HTTP events; checkpoint the detectors; close storage. A second
signal exits at once (status 130): whatever was not committed is delivered
again by Kafka, and nothing stored is lost.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import socket
import threading
from types import FrameType
from typing import Literal

import uvicorn

from driftd.api import create_app
from driftd.collector.consumer import make_source
from driftd.collector.kafka_source import ensure_topics
from driftd.collector.kserve_ingest import build_kserve
from driftd.collector.kserve_kafka import KServeKafkaSource
from driftd.collector.loop import Collector
from driftd.config import Settings
from driftd.errors import ConfigError
from driftd.services import Services, build_services

__all__ = ["Daemon", "Role"]

logger = logging.getLogger(__name__)

Role = Literal["all", "collector", "api"]
DRAIN_TIMEOUT_S = 60.0


class Daemon:
    """One driftd process. ``start()``/``stop()`` for embedding; ``run()`` for the CLI."""

    def __init__(self, settings: Settings, role: Role = "all", *, services: Services | None = None):
        if role not in ("all", "collector", "api"):
            raise ValueError(f"role must be all, collector or api, got {role!r}")
        if role == "collector" and not settings.kafka.enabled:
            raise ConfigError(
                [("kafka.enabled", "false", "the collector role consumes Kafka: set it to true")]
            )
        self.settings = settings
        self.role = role
        self.services = services
        self._server: uvicorn.Server | None = None
        self._threads: list[threading.Thread] = []
        self._collector: Collector | None = None
        self._signals = 0
        self._done = threading.Event()

    @property
    def port(self) -> int:
        """The API's bound port (useful with ``api.port: 0``)."""
        assert self._server is not None and self._server.servers, "API not started"
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    def start(self) -> None:
        """Build services and start the roles' threads; returns once the API listens."""
        if self.services is None:
            self.services = build_services(self.settings)
        # What exists now (settings, clients, baselines) lives as long as the process:
        # keep the garbage collector from re-scanning it on every collection.
        gc.collect()
        gc.freeze()
        services = self.services
        if self.role in ("all", "collector") and self.settings.kafka.enabled:
            if self.settings.kafka.ensure_topics:
                ensure_topics(self.settings.kafka)
            source = make_source(
                self.settings.kafka,
                stored_offsets=services.store.stored_offsets,
                on_revoked=services.monitor.forget,
                retry=services.pipeline.retry,
                metrics=services.metrics,
            )
            self._collector = Collector(source, services.pipeline, services.stopping)
            self._spawn("driftd-collector", self._collector.run)
        services.alerting.start()  # every role: flushes and deliveries are safe to share
        # Every role serves HTTP: the collector only its probes and /metrics.
        if self.role in ("all", "api"):
            services.ingest.start()
            if self.settings.kafka.enabled and self.settings.kserve.kafka_topic:
                kserve = KServeKafkaSource(
                    self.settings.kafka, self.settings.kserve, build_kserve(services),
                    services.stopping,
                )  # fmt: skip
                self._spawn("driftd-kserve", kserve.run)
        config = uvicorn.Config(
            create_app(services, health_only=self.role == "collector"),
            host=self.settings.api.host,
            port=self.settings.api.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=30,
            timeout_keep_alive=5,
            ssl_certfile=self.settings.api.ssl_certfile or None,
            ssl_keyfile=self.settings.api.ssl_keyfile or None,
        )
        self._server = uvicorn.Server(config)
        self._spawn("driftd-api", self._server.run)
        while not self._server.started:
            if not self._threads[-1].is_alive():
                raise _bind_error(self.settings.api.host, self.settings.api.port)
            self._done.wait(0.02)
        logger.info("API listening on %s:%d", self.settings.api.host, self.port)

    def _spawn(self, name: str, target: object) -> None:
        def guarded() -> None:
            try:
                target()  # type: ignore[operator]
            except Exception:
                logger.exception("%s failed; stopping the daemon", name)
                self._done.set()
            except SystemExit:  # uvicorn exits when it cannot bind; start() explains why
                logger.error("%s exited; stopping the daemon", name)
                self._done.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Drain in order and release everything (idempotent)."""
        services = self.services
        if services is None:
            return
        logger.info("draining")
        services.stopping.set()
        collector = [t for t in self._threads if t.name in ("driftd-collector", "driftd-kserve")]
        for thread in collector:
            thread.join(DRAIN_TIMEOUT_S)
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(DRAIN_TIMEOUT_S)
        services.ingest.close(DRAIN_TIMEOUT_S)
        try:
            services.monitor.checkpoint()
        except Exception:
            logger.exception("final checkpoint failed (the last batch's state is recounted)")
        services.close()
        self.services = None
        self._done.set()
        logger.info("stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            os.write(2, b"driftd: second signal, exiting now\n")
            os._exit(130)
        self._done.set()  # only a flag: the main thread drains

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or a role fails), then drain. Returns the exit status."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        failed = False
        try:
            self.start()
            # wait in short slices, so the signal handlers run promptly on this thread
            while not self._done.wait(0.5):
                continue
            failed = self._signals == 0
        finally:
            self.stop()
        return 1 if failed else 0


def _bind_error(host: str, port: int) -> Exception:
    """Why the API could not listen: a taken port is a configuration error naming the fix."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fix = "in use by another process; stop it or choose another port"
        else:
            fix = f"cannot listen there ({exc.strerror}); choose another host or port"
        return ConfigError([("api.port", f"{host}:{port}", f"{fix} (env DRIFTD_API__PORT)")])
    return RuntimeError(f"the API could not listen on {host}:{port} (see the log)")
