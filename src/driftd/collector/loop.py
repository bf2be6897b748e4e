"""The collector loop: poll → process → commit, until asked to stop.

Stopping drains in order: the loop stops polling, finishes the batch in hand
(stored, judged, checkpointed), commits it and closes the consumer. If storage
is down while stopping, the unfinished batch is not committed and Kafka
delivers it again to whoever consumes next.
"""

from __future__ import annotations

import logging
import threading

from driftd.collector import gc_pause
from driftd.collector.consumer import ConsumerSource
from driftd.collector.messages import Message
from driftd.collector.pipeline import Pipeline
from driftd.errors import DriftdError, StorageDataError

__all__ = ["Collector"]

logger = logging.getLogger(__name__)

_DONE, _POLL_FAILED, _UNFINISHED = object(), object(), object()


class Collector:
    """Runs one Kafka source through the pipeline on the calling thread."""

    def __init__(
        self,
        source: ConsumerSource,
        pipeline: Pipeline,
        stopping: threading.Event,
        *,
        error_backoff_s: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.stopping = stopping
        self.error_backoff_s = error_backoff_s
        self.batches = 0
        self.events = 0

    def run(self) -> None:
        """Consume until ``stopping`` is set; never dies on bad input.

        Outages are retried inside the pipeline (consumption pauses meanwhile).
        A write the data made impossible after the events are stored (drift
        metrics, a checkpoint) is logged and the batch committed. Any other
        failure keeps the batch in hand and retries it with backoff: nothing is
        committed that was not processed, and ``/readyz`` reports the stall.
        """
        self.source.start()
        logger.info("collector started")
        try:
            while not self.stopping.is_set():
                with gc_pause.batch_paused():
                    step = self._step()
                if step is _POLL_FAILED:
                    self.stopping.wait(1.0)
                elif step is _UNFINISHED:
                    return
        finally:
            self.source.close()
            logger.info("collector stopped after %d batches, %d events", self.batches, self.events)

    def _step(self) -> object:
        """Poll, process and commit one batch; the batch is garbage when this returns.

        The caller pauses the cycle collector around it (:mod:`~driftd.collector.gc_pause`).
        """
        try:
            messages = self.source.poll()
        except DriftdError as exc:
            logger.warning("poll failed, retrying: %s", exc)
            return _POLL_FAILED
        if not messages:
            return _DONE
        if not self._process(messages):
            return _UNFINISHED
        try:
            self.source.commit(messages)
        except DriftdError as exc:  # stored; a redelivery is skipped as stored
            logger.warning("commit failed (the batch is stored): %s", exc)
        self.batches += 1
        self.events += len(messages)
        return _DONE

    def _process(self, messages: list[Message]) -> bool:
        """Process one batch until done; False when stopping left it unfinished."""
        delay, max_delay = self.error_backoff_s
        while True:
            try:
                self.pipeline.process(messages)
                return True
            except StorageDataError as exc:
                kind = type(exc.__cause__ or exc).__name__  # by kind: data is never logged
                logger.error("a derived write was refused for its data (%s); committed", kind)
                return True
            except DriftdError as exc:
                if self.stopping.is_set():
                    logger.warning("stopped with an unfinished batch (not committed): %s", exc)
                    return False
                logger.error("batch failed, retrying in %.0fs: %s", delay, exc)
            except Exception:
                logger.exception("batch failed unexpectedly, retrying in %.0fs", delay)
            if gc_pause.wait(self.stopping, delay):
                return False
            delay = min(delay * 2, max_delay)
