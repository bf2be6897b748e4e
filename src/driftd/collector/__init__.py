"""The collector: sources (Kafka, HTTP), PII scrubbing, dead letters, and the shared pipeline."""

from driftd.collector.deadletter import (
    DeadLetterSink,
    KafkaDeadLetters,
    MemoryDeadLetters,
    RejectionLog,
    StoreDeadLetters,
    dead_letter_headers,
)
from driftd.collector.http_ingest import HttpIngest, IngestOutcome
from driftd.collector.kafka_source import KafkaSource, ensure_topics, kafka_reachable
from driftd.collector.loop import Collector
from driftd.collector.messages import BatchResult, DeadLetter, Kind, Message
from driftd.collector.pipeline import Pipeline, Retry
from driftd.collector.progress import Progress
from driftd.collector.recent import RecentIds
from driftd.collector.scrub import Scrubber

__all__ = [
    "BatchResult",
    "Collector",
    "DeadLetter",
    "DeadLetterSink",
    "HttpIngest",
    "IngestOutcome",
    "KafkaDeadLetters",
    "KafkaSource",
    "Kind",
    "MemoryDeadLetters",
    "Message",
    "Pipeline",
    "Progress",
    "RecentIds",
    "RejectionLog",
    "Retry",
    "Scrubber",
    "StoreDeadLetters",
    "dead_letter_headers",
    "ensure_topics",
    "kafka_reachable",
]
