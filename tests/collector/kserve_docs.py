"""KServe payloads as KServe's own documentation shows them.

V1: docs/samples/logger/basic/README.md in kserve/kserve (the message dumper's
output for the sklearn-iris logger demo: two CloudEvents sharing one id).
V2: docs/samples/v1beta1/sklearn/v2/README.md (the Open Inference Protocol
request and its answer).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

V1_ATTRS = {
    "specversion": "1.0",
    "source": "http://localhost:9081/",
    "id": "0009174a-24a8-4603-b098-09c8799950e9",
    "datacontenttype": "application/json",
    "endpoint": "",
    "inferenceservicename": "sklearn-iris",
    "namespace": "default",
}
V1_REQUEST: dict[str, Any] = {
    **V1_ATTRS,
    "type": "org.kubeflow.serving.inference.request",
    "time": "2021-04-10T00:23:26.0789529Z",
    "traceparent": "00-90bdf848647d50283394155d2df58f19-84dacdfdf07cadfc-00",
    "data": {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]},
}
V1_RESPONSE: dict[str, Any] = {
    **V1_ATTRS,
    "type": "org.kubeflow.serving.inference.response",
    "time": "2021-04-10T00:23:26.080736102Z",
    "traceparent": "00-55de1514e1d23ee17eb50dda6167bb8c-b6c6e0f6dd8f741d-00",
    "data": {"predictions": [1, 1]},
}

V2_REQUEST_BODY: dict[str, Any] = {
    "inputs": [
        {
            "name": "input-0",
            "shape": [2, 4],
            "datatype": "FP32",
            "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]],
        }
    ]
}
V2_RESPONSE_BODY: dict[str, Any] = {
    "id": "823248cc-d770-4a51-9606-16803395569c",
    "model_name": "iris-classifier",
    "model_version": "v1.0.0",
    "outputs": [
        {"data": [1, 2], "datatype": "FP32", "name": "predict", "parameters": None, "shape": [2]}
    ],
}
V2_ATTRS = {**V1_ATTRS, "id": "823248cc-d770-4a51-9606-16803395569c",
            "inferenceservicename": "sklearn-irisv2"}  # fmt: skip
V2_REQUEST = {**V2_ATTRS, "type": "org.kubeflow.serving.inference.request",
              "time": "2021-04-10T00:23:26.0789529Z", "data": V2_REQUEST_BODY}  # fmt: skip
V2_RESPONSE = {**V2_ATTRS, "type": "org.kubeflow.serving.inference.response",
               "time": "2021-04-10T00:23:26.080736102Z", "data": V2_RESPONSE_BODY}  # fmt: skip

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def binary(event: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """HTTP headers and JSON body of a binary-mode CloudEvent."""
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    headers["content-type"] = event.get("datacontenttype", "application/json")
    return headers, event["data"]


def structured(event: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    return {"content-type": "application/cloudevents+json; charset=utf-8"}, event


def kafka_record(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The headers a Knative Kafka broker writes (binary mode, ce_ prefix)."""
    headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k not in ("data",)]
    return [*headers, ("content-type", b"application/json")]


def iris_frame(seed: int) -> pd.DataFrame:
    """Training rows shaped like the iris example (four features, a class label)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(5, 1, 300) for name in IRIS})
    frame["label"] = rng.integers(0, 3, 300)
    return frame
