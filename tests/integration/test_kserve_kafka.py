"""KServe CloudEvents from Kafka (Knative Kafka broker layout: ``ce_`` headers) into storage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from kafka import KafkaProducer

from driftd.config import load_settings
from driftd.daemon import Daemon
from driftd.detectors import profile_dataframe
from tests.collector.kserve_docs import IRIS, V1_REQUEST, V1_RESPONSE, kafka_record
from tests.integration.kafka_helpers import TIMINGS, create_topics, unique

pytestmark = pytest.mark.kafka


def test_kserve_events_from_kafka_are_paired_and_stored(
    tansu: str, chdb_url: str, database: str, tmp_path: Path
) -> None:
    kserve_topic = unique("knative-broker")
    topics = {"predictions_topic": unique("p"), "outcomes_topic": unique("o"),
              "deadletter_topic": unique("d")}  # fmt: skip
    create_topics(tansu, [kserve_topic, *topics.values()], partitions=1)
    settings = load_settings(
        None,
        storage={"clickhouse_url": chdb_url, "database": database,
                 "control_url": f"sqlite:///{tmp_path / 'control.db'}"},
        api={"port": 0},
        collector={"batch_max_wait_ms": 20},
        kafka={"enabled": True, "bootstrap_servers": [tansu], "group_id": unique("g"),
               **topics, **TIMINGS},
        kserve={"kafka_topic": kserve_topic, "kafka_group_id": unique("k"),
                "models": {"sklearn-iris": {"feature_names": list(IRIS)}}},
    )  # fmt: skip
    daemon = Daemon(settings, "all")
    daemon.start()
    try:
        rng = np.random.default_rng(2)
        frame = pd.DataFrame({name: rng.normal(5, 1, 300) for name in IRIS})
        frame["label"] = rng.integers(0, 3, 300)
        profile = profile_dataframe(frame, "sklearn-iris", "v1", prediction="label")
        httpx.post(f"http://127.0.0.1:{daemon.port}/v1/models/sklearn-iris/baselines",
                   json={"profile": profile.to_dict()}, timeout=30).raise_for_status()  # fmt: skip
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
    finally:
        daemon.stop()
