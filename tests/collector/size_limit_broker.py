"""A Kafka broker that enforces a topic's ``max.message.bytes``, for the dead-letter tests.

Tansu (the test broker) keeps a topic's ``max.message.bytes`` but does not enforce
it: it writes a record batch of any size. :class:`SizeLimitProxy` stands in front
of a Tansu whose advertised listener is the proxy, forwards every request, and
answers a Produce request holding a record batch larger than ``limit`` bytes with
``MESSAGE_TOO_LARGE`` (error 10) for its partitions, as Apache Kafka does.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from kafka.protocol.producer import ProduceRequest, ProduceResponse

MESSAGE_TOO_LARGE = 10


def _read(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def _frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", _read(sock, 4))
    return _read(sock, size)


def _framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


class SizeLimitProxy:
    """Forwards to ``upstream``; refuses record batches larger than ``limit`` bytes."""

    def __init__(self, upstream: tuple[str, int], port: int, limit: int) -> None:
        self.upstream = upstream
        self.limit = limit
        self.refused: list[int] = []  # sizes of the record batches refused
        self.accepted: list[int] = []
        self._server = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with contextlib.suppress(OSError), client, upstream:  # ConnectionError is an OSError
            while True:
                request = _frame(client)
                api_key, version = struct.unpack(">hh", request[:4])
                if api_key == 0 and self._refuse(request, version, client):
                    continue
                upstream.sendall(_framed(request))
                if api_key == 0 and ProduceRequest.decode(request, version, header=True).acks == 0:
                    continue  # no answer to forward
                client.sendall(_framed(_frame(upstream)))

    def _refuse(self, request: bytes, version: int, client: socket.socket) -> bool:
        produce = ProduceRequest.decode(request, version, header=True)
        sizes = [
            len(p.records or b"") for topic in produce.topic_data for p in topic.partition_data
        ]
        if max(sizes, default=0) <= self.limit:
            self.accepted += sizes
            return False
        self.refused += sizes
        partition = ProduceResponse.TopicProduceResponse.PartitionProduceResponse
        response = ProduceResponse(
            version=version,
            throttle_time_ms=0,
            responses=[
                ProduceResponse.TopicProduceResponse(
                    name=topic.name,
                    partition_responses=[
                        partition(index=p.index, error_code=MESSAGE_TOO_LARGE, base_offset=-1)
                        for p in topic.partition_data
                    ],
                )
                for topic in produce.topic_data
            ],
        )
        response.with_header(correlation_id=produce.header.correlation_id)
        client.sendall(response.encode(header=True, framed=True))
        return True
