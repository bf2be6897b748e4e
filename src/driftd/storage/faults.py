"""Telling a storage outage from a failure the data caused, before anything is retried.

An outage (connection refused, a timeout, a full disk, a locked database, more
parts than ClickHouse's merges keep up with) goes away by itself: the batch is
retried with backoff and consumption pauses. A failure the data caused (a
string that cannot be encoded, a value of the wrong type or size) fails again
on every retry: the pipeline must find the event responsible instead. Anything
that matches neither rule stays a plain :class:`~driftd.errors.StorageError`,
and the pipeline probes storage to decide.

>>> type(storage_error("insert", ConnectionRefusedError(111, "Connection refused"))).__name__
'StorageUnavailableError'
>>> surrogate = UnicodeEncodeError("utf-8", "\\ud800", 0, 1, "surrogates not allowed")
>>> type(storage_error("insert", surrogate)).__name__
'StorageDataError'
>>> storage_error("insert", OSError(28, "No space left on device")).condition
'disk_full'
"""

from __future__ import annotations

import errno
import re

from driftd.errors import StorageDataError, StorageError, StorageUnavailableError

__all__ = ["outage_condition", "storage_error"]

_DATA_TYPES = (UnicodeError, TypeError, OverflowError, ValueError)
_DISK_FULL = re.compile(
    r"no space left|not_enough_space|cannot reserve .* space|disk (is )?full|"
    r"could not extend file|database or disk is full",
    re.IGNORECASE,
)
_LOCKED = re.compile(r"database is locked|database table is locked|lock timeout", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed? ?out|timeout", re.IGNORECASE)
_TOO_MANY_PARTS = re.compile(r"too many parts|too_many_parts", re.IGNORECASE)
"""ClickHouse refusing inserts until merges catch up: it passes by itself."""
_UNREACHABLE = re.compile(
    r"connection (refused|reset|aborted)|could not connect|failed to establish|"
    r"name or service not known|server closed the connection|broken pipe|"
    r"network is unreachable|connection to server .* failed|the store is closed|"
    r"too many (simultaneous queries|connections)|memory limit",
    re.IGNORECASE,
)
_DATA = re.compile(
    r"cannot_parse|type_mismatch|too_large_string|value_is_out_of_range|"
    r"cannot (parse|convert)|illegal_type|invalid byte sequence|string data right truncation|"
    r"numeric value out of range|contains nul",
    re.IGNORECASE,
)


def outage_condition(exc: BaseException) -> str | None:
    """The kind of outage ``exc`` (or its causes) shows, or ``None`` when it shows none."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return "disk_full"
        text = str(cause)
        if _DISK_FULL.search(text):
            return "disk_full"
        if _LOCKED.search(text):
            return "locked"
        if _TOO_MANY_PARTS.search(text):
            return "too_many_parts"
        if isinstance(cause, TimeoutError) or _TIMEOUT.search(text):
            return "timeout"
        if isinstance(cause, ConnectionError) or _UNREACHABLE.search(text):
            return "unreachable"
    return None


def _caused_by_data(exc: BaseException) -> bool:
    return any(isinstance(c, _DATA_TYPES) or _DATA.search(str(c)) for c in _chain(exc))


def storage_error(what: str, exc: BaseException) -> StorageError:
    """Wrap ``exc`` as the :class:`StorageError` subclass its cause calls for.

    Outage rules win over data rules: a message that names both a timeout and
    a type is retried, never split into dead letters.
    """
    message = f"{what} failed: {exc}"
    condition = outage_condition(exc)
    if condition is not None:
        return StorageUnavailableError(message, condition=condition)
    if _caused_by_data(exc):
        return StorageDataError(message)
    return StorageError(message)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
