"""Real receivers on loopback: an HTTP server with scripted answers, an SMTP server (aiosmtpd)."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class HttpReceiver:
    """Records every request; answers the scripted statuses in order, then ``default``."""

    port: int = 0
    script: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ok(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.status < 300]


@contextmanager
def http_receiver(script: list[int] | None = None, default: int = 200) -> Iterator[HttpReceiver]:
    rec = HttpReceiver(script=list(script or []), default=default)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                status = rec.script.pop(0) if rec.script else rec.default
                rec.requests.append(
                    Request(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                    )
                )
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("location", "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class SmtpReceiver:
    port: int
    mailbox: _Mailbox

    @property
    def messages(self) -> list[Any]:
        return self.mailbox.messages

    def apprise_url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?from=driftd@example.com&to=ops@example.com"
            "&mode=insecure"
        )


@contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpReceiver(port, mailbox)
    finally:
        controller.stop()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` with a generous bound (never a bare sleep in a test)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or condition}")
        time.sleep(0.05)
