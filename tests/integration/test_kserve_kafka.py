"""KServe CloudEvents from Kafka (Knative Kafka broker layout: ``ce_`` headers) into storage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from tests.collector.kserve_docs import IRIS, V1_REQUEST, V1_RESPONSE, iris_frame, kafka_record
from tests.daemons import running_daemon, upload_baseline
from tests.integration.kafka_helpers import TIMINGS, create_topics, unique

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
