"""Progress on long CLI work, shown on stderr only when stderr is a terminal.

One carriage-return line, redrawn at most ``max_rate`` times a second, then
finished with a newline. When stderr is not a terminal (a pipe, a log file,
CI), or the command asked for quiet or JSON output, nothing is written at all:
progress is for a person watching, never for a parser.

>>> import io
>>> quiet = Progress(io.StringIO())  # not a terminal: silent
>>> quiet.enabled
False
>>> quiet.rows("pass 1/2", 1_000)
>>> quiet.stream.getvalue()
''
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "wanted"]

_CLEAR = "\x1b[K"  # erase to the end of the line: a shorter redraw leaves no tail


def wanted(stream: TextIO, *, quiet: bool = False) -> bool:
    """Whether progress belongs on ``stream``: a terminal, and not asked to be quiet."""
    if quiet:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False


class Progress:
    """A throttled one-line progress display (see the module docstring)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        max_rate: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = wanted(self.stream, quiet=quiet)
        self.clock = clock
        self.interval = 1.0 / max_rate
        self._last = float("-inf")
        self._started: dict[str, float] = {}
        self._open = False  # a line is drawn and not yet ended
        self._steps = self._step = 0

    def _draw(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(f"\r{text}{_CLEAR}")
        self.stream.flush()
        self._open = True

    def rows(self, label: str, done: int, total: int | None = None, *, force: bool = False) -> None:
        """``label: 12,000 rows[ of 50,000 (24%)], 8,000 rows/s``.

        Throttled, but a new label and the last rows of a known total are always drawn.
        The rate counts from the label's first call.
        """
        force = force or label not in self._started or (total is not None and done >= total)
        started = self._started.setdefault(label, self.clock())
        elapsed = self.clock() - started
        text = f"driftd: {label}: {done:,} rows"
        if total:
            text += f" of {total:,} ({min(100, 100 * done // total)}%)"
        if elapsed > 0 and done:
            text += f", {done / elapsed:,.0f} rows/s"
        self._draw(text, force=force)

    def plan(self, steps: int) -> None:
        """Announce how many :meth:`step` calls the work takes."""
        self._steps, self._step = steps, 0

    def step(self, what: str) -> None:
        """``driftd: [2/4] reading the drift results``, always drawn (steps are few)."""
        self._step += 1
        self._draw(f"driftd: [{self._step}/{max(self._steps, self._step)}] {what}", force=True)

    def end(self) -> None:
        """End the line so what follows starts on its own (nothing if nothing was drawn)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
