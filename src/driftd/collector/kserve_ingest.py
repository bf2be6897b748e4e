"""KServe events into the pipeline: pair in memory, hand complete predictions to ingest.

Used by ``POST /v1/events/kserve`` and by the KServe Kafka source. A pair
becomes prediction events that go to :meth:`HttpIngest.submit` like any HTTP
event (scrub → validate → store → judge); nothing waits for storage, so the
KServe logger gets its answer at once. A half left alone past the timeout,
or a pair that does not decode, becomes a dead letter (reasons
``kserve_unpaired`` or the decoding reason), scrubbed like every dead letter.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from driftd.collector.deadletter import DeadLetterSink
from driftd.collector.http_ingest import IngestOutcome
from driftd.collector.kserve import REQUEST, CloudEvent, KServeModel, LoneHalf, Pairer
from driftd.collector.messages import DeadLetter, Message
from driftd.collector.scrub import Scrubber
from driftd.config.settings import KServeSettings
from driftd.errors import EventError
from driftd.metrics import Metrics

if TYPE_CHECKING:
    from driftd.services import Services

__all__ = ["KServeIngest", "build_kserve", "models_from"]

logger = logging.getLogger(__name__)


class Submitter(Protocol):
    def submit(self, messages: list[Message]) -> Future[IngestOutcome]: ...


def models_from(settings: KServeSettings) -> dict[str, KServeModel]:
    """``kserve.models`` as the decoder's specs."""
    return {
        name: KServeModel(
            model=spec.model,
            version=spec.version,
            feature_names=tuple(spec.feature_names),
            output=spec.output,
            class_names=tuple(spec.class_names),
        )
        for name, spec in settings.models.items()
    }


def build_kserve(services: Services) -> KServeIngest:
    """A pairer per entry (HTTP, Kafka), wired to the process's ingest and dead letters."""
    settings = services.settings.kserve
    pairer = Pairer(
        models_from(settings), timeout_s=settings.pair_timeout_s, max_pending=settings.max_pending
    )
    pipeline = services.pipeline
    return KServeIngest(
        pairer, services.ingest, pipeline.scrubber, pipeline.dead_letters, services.metrics
    )


class KServeIngest:
    """Pairs KServe halves and submits the predictions; dead-letters what cannot pair."""

    def __init__(
        self,
        pairer: Pairer,
        ingest: Submitter,
        scrubber: Scrubber,
        dead_letters: DeadLetterSink,
        metrics: Metrics,
    ) -> None:
        self.pairer = pairer
        self.ingest = ingest
        self.scrubber = scrubber
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.submitted = 0
        self.last_future: Future[IngestOutcome] | None = None
        self.last_messages: list[Message] = []

    def accept(self, event: CloudEvent) -> tuple[int, list[DeadLetter]]:
        """Pair one half; return (predictions handed to ingest, dead letters to publish)."""
        try:
            events = self.pairer.add(event)
        except EventError as exc:
            return 0, [self.letter(event, exc.reason, exc.detail)]
        if events:
            received_ms = time.time_ns() // 1_000_000
            messages = [Message("predictions", e, None, received_ms) for e in events]
            future = self.ingest.submit(messages)
            future.add_done_callback(_log_failure)
            self.last_future, self.last_messages = future, messages
            self.submitted += len(events)
        return len(events), []

    def expired(self, *, everything: bool = False) -> list[DeadLetter]:
        """Dead letters for the halves alone past the timeout (all with ``everything``)."""
        return [self.lone_letter(half) for half in self.pairer.expire(everything=everything)]

    def lone_letter(self, half: LoneHalf) -> DeadLetter:
        other = "response" if half.event.type == REQUEST else "request"
        return self.letter(
            half.event, "kserve_unpaired", f"no {other} within {self.pairer.timeout_s:g}s"
        )

    def letter(self, event: CloudEvent, reason: str, detail: str) -> DeadLetter:
        payload: dict[str, Any] = {
            "request_id": event.id,
            "source": event.source,
            "type": event.type,
            "inferenceservicename": event.inferenceservicename,
            "data": event.data,
        }
        self.metrics.dead_letters.labels("predictions", reason).inc()
        return DeadLetter("predictions", reason, detail, self.scrubber.scrub(payload), None)

    def publish(self, letters: Sequence[DeadLetter]) -> bool:
        """Blocking: run off the event loop. False (logged) if the sink failed."""
        if letters:
            try:
                self.dead_letters.publish(letters)
            except Exception:
                logger.exception("%d KServe dead letters could not be published", len(letters))
                return False
        return True


def _log_failure(future: Future[IngestOutcome]) -> None:
    exc = future.exception()
    if exc is not None:
        logger.error("KServe predictions were not stored: %s", exc)
        return
    outcome = future.result()
    if outcome.rejected:
        reasons = Counter(letter.reason for letter in outcome.rejected)
        logger.warning("KServe predictions rejected: %s", dict(reasons))
