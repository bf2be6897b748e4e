"""The collector: sources (Kafka, HTTP, KServe), PII scrubbing, dead letters, the pipeline."""

from driftd.collector.consumer import ConsumerSource, make_source
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
from driftd.collector.kserve import CloudEvent, KServeModel, Pairer
from driftd.collector.kserve_ingest import KServeIngest
from driftd.collector.kserve_kafka import KServeKafkaSource
from driftd.collector.loop import Collector
from driftd.collector.messages import BatchResult, DeadLetter, Kind, Message
from driftd.collector.pii import Redactor
from driftd.collector.pipeline import Pipeline, Retry
from driftd.collector.progress import Progress
from driftd.collector.recent import RecentIds
from driftd.collector.scrub import Scrubber

__all__ = [
    "BatchResult",
    "CloudEvent",
    "Collector",
    "ConsumerSource",
    "DeadLetter",
    "DeadLetterSink",
    "HttpIngest",
    "IngestOutcome",
    "KServeIngest",
    "KServeKafkaSource",
    "KServeModel",
    "KafkaDeadLetters",
    "KafkaSource",
    "Kind",
    "MemoryDeadLetters",
    "Message",
    "Pairer",
    "Pipeline",
    "Progress",
    "RecentIds",
    "Redactor",
    "RejectionLog",
    "Retry",
    "Scrubber",
    "StoreDeadLetters",
    "dead_letter_headers",
    "ensure_topics",
    "kafka_reachable",
    "make_source",
]
