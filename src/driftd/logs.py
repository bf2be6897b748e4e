"""Structured (JSON) log lines, on request (``logging.json_format: true``).

Log records carry reasons, counts and coordinates, never event payloads.

>>> import logging
>>> rec = logging.LogRecord("driftd.x", logging.INFO, "f.py", 1, "stored %d", (5,), None)
>>> JsonFormatter().format(rec)[:45]
'{"level":"INFO","logger":"driftd.x","message"'
"""

from __future__ import annotations

import logging

import orjson

__all__ = ["JsonFormatter"]


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
