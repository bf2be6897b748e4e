"""KServe CloudEvents from Kafka (Knative Kafka broker layout: ``ce_`` headers) into storage."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from driftd.collector.deadletter import MemoryDeadLetters
from driftd.collector.http_ingest import IngestOutcome
from driftd.collector.kserve import KServeModel, Pairer
from driftd.collector.kserve_ingest import KServeIngest
from driftd.collector.kserve_kafka import KServeKafkaSource
from driftd.collector.messages import Message
from driftd.collector.scrub import Scrubber
from driftd.config.settings import KafkaSettings, KServeSettings
from driftd.errors import StorageUnavailableError
from driftd.metrics import Metrics
from tests.collector.kserve_docs import IRIS, V1_REQUEST, V1_RESPONSE, iris_frame, kafka_record
from tests.daemons import running_daemon, upload_baseline
from tests.integration.kafka_helpers import TIMINGS, committed, create_topics, unique, wait_for

pytestmark = pytest.mark.kafka


def test_kserve_events_from_kafka_are_paired_and_stored(
    tansu: str, chdb_url: str, database: str, tmp_path: Path
) -> None:
    kserve_topic = unique("knative-broker")
    topics = {"predictions_topic": unique("p"), "outcomes_topic": unique("o"),
              "deadletter_topic": unique("d")}  # fmt: skip
    create_topics(tansu, [kserve_topic, *topics.values()], partitions=1)
    kafka = {
        "enabled": True,
        "bootstrap_servers": [tansu],
        "group_id": unique("g"),
        **topics,
        **TIMINGS,
    }
    kserve = {
        "kafka_topic": kserve_topic,
        "kafka_group_id": unique("k"),
        "models": {"sklearn-iris": {"feature_names": list(IRIS)}},
    }
    with running_daemon(chdb_url, database, tmp_path, kafka=kafka, kserve=kserve) as daemon:
        upload_baseline(daemon, iris_frame(2), "sklearn-iris", "v1", "label")
        producer = KafkaProducer(bootstrap_servers=tansu)
        for event in (V1_REQUEST, V1_RESPONSE, V1_RESPONSE):  # the last one is a redelivery
            producer.send(kserve_topic, value=orjson.dumps(event["data"]),
                          headers=kafka_record(event), key=b"sklearn-iris")  # fmt: skip
        producer.flush()
        producer.close()
        assert daemon.services is not None
        store = daemon.services.store
        deadline = time.monotonic() + 120
        rows: list[Any] = []
        while len(rows) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = store.read_predictions("sklearn-iris", 0, 4_102_444_800_000)
        rid = V1_REQUEST["id"]
        assert sorted(r.request_id for r in rows) == [f"{rid}:0", f"{rid}:1"]
        assert rows[0].num.keys() == set(IRIS)


class _FailsFirst:
    """Ingest that fails its first ``failures`` submissions (a predictions-topic outage)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.taken: list[list[Message]] = []

    def submit(self, messages: list[Message]) -> Future[IngestOutcome]:
        future: Future[IngestOutcome] = Future()
        if self.failures:
            self.failures -= 1
            future.set_exception(StorageUnavailableError("predictions topic unreachable"))
        else:
            self.taken.append(messages)
            future.set_result(IngestOutcome(len(messages), []))
        return future


def test_pairs_ingest_failed_to_take_are_handed_over_again_before_the_commit(
    tansu: str,
) -> None:
    """Ingest failing (its Kafka producer down) must not let the offsets be committed
    over the pairs it did not take: they are handed over again until taken."""
    topic, group = unique("knative-broker"), unique("k")
    create_topics(tansu, [topic], partitions=1)
    producer = KafkaProducer(bootstrap_servers=tansu)
    for event in (V1_REQUEST, V1_RESPONSE):
        producer.send(topic, value=orjson.dumps(event["data"]), headers=kafka_record(event),
                      key=b"sklearn-iris")  # fmt: skip
    producer.flush()
    producer.close()
    ingest = _FailsFirst(failures=2)
    letters = MemoryDeadLetters()
    kserve = KServeIngest(
        Pairer({"sklearn-iris": KServeModel(feature_names=IRIS)}),
        ingest,
        Scrubber({}, hmac_key=b"k" * 16),
        letters,
        Metrics(),
    )
    stopping = threading.Event()
    source = KServeKafkaSource(
        KafkaSettings(
            enabled=True, bootstrap_servers=[tansu], auto_offset_reset="earliest", **TIMINGS
        ),
        KServeSettings(kafka_topic=topic, kafka_group_id=group),
        kserve,
        stopping,
    )
    source.retry_initial_s = 0.05
    thread = threading.Thread(target=source.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: committed(tansu, group, topic, [0]) == {0: 2}, 120, "the commit")
    finally:
        stopping.set()
        thread.join(30)
    assert ingest.failures == 0
    assert [len(m) for m in ingest.taken] == [2]  # the pair's two predictions, once
    assert list(letters.letters) == []
