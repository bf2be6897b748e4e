"""Structured (JSON) log lines, on request (``logging.json_format: true``).

Log records carry reasons, counts and coordinates, never event payloads; and
:class:`RedactingFilter`, on the CLI's handler, masks any PII that reaches a
message anyway (a model name in a URL path, a storage error quoting a value).

>>> import logging
>>> rec = logging.LogRecord("driftd.x", logging.INFO, "f.py", 1, "stored %d", (5,), None)
>>> JsonFormatter().format(rec)[:45]
'{"level":"INFO","logger":"driftd.x","message"'
"""

from __future__ import annotations

import logging

import orjson

__all__ = ["JsonFormatter", "RedactingFilter"]


class RedactingFilter(logging.Filter):
    """Masks PII (every type of :mod:`driftd.collector.pii`) in messages and tracebacks.

    >>> path = "GET /v1/models/%s"
    >>> rec = logging.LogRecord("x", logging.ERROR, "f.py", 1, path, ("a@b.io",), None)
    >>> RedactingFilter().filter(rec), rec.getMessage()
    (True, 'GET /v1/models/[EMAIL]')
    """

    def __init__(self) -> None:
        super().__init__()
        from driftd.collector.pii import Redactor

        self._redactor = Redactor({})

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redactor.redact(message)
        if clean is not message:
            record.msg, record.args = str(clean), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = str(self._redactor.redact(record.exc_text))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, logger, message, time, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "time": self.formatTime(record),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()
