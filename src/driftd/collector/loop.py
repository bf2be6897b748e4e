"""The collector loop: poll → process → commit, until asked to stop.

Stopping drains in order: the loop stops polling, finishes the batch in hand
(stored, judged, checkpointed), commits it and closes the consumer. If storage
is down while stopping, the unfinished batch is not committed and Kafka
delivers it again to whoever consumes next.
"""

from __future__ import annotations

import logging
import threading

from driftd.collector.kafka_source import KafkaSource
from driftd.collector.pipeline import Pipeline
from driftd.errors import DriftdError

__all__ = ["Collector"]

logger = logging.getLogger(__name__)


class Collector:
    """Runs one Kafka source through the pipeline on the calling thread."""

    def __init__(self, source: KafkaSource, pipeline: Pipeline, stopping: threading.Event) -> None:
        self.source = source
        self.pipeline = pipeline
        self.stopping = stopping
        self.batches = 0
        self.events = 0

    def run(self) -> None:
        """Consume until ``stopping`` is set; never dies on bad input."""
        self.source.start()
        logger.info("collector started")
        try:
            while not self.stopping.is_set():
                try:
                    messages = self.source.poll()
                except DriftdError as exc:
                    logger.warning("poll failed, retrying: %s", exc)
                    self.stopping.wait(1.0)
                    continue
                if not messages:
                    continue
                try:
                    self.pipeline.process(messages)
                except DriftdError as exc:
                    if not self.stopping.is_set():
                        raise
                    logger.warning("stopped with an unfinished batch (not committed): %s", exc)
                    return
                self.source.commit(messages)
                self.batches += 1
                self.events += len(messages)
        finally:
            self.source.close()
            logger.info("collector stopped after %d batches, %d events", self.batches, self.events)
