"""What the HTTP server refused, logged as a summary: one line now and then, never one a refusal.

A refusal (a foreign ``Origin``, a missing token, a slow client cut off, a connection over
the cap) is something an outsider chooses to cause, as often as they like: a line each would
let them fill the disk and drown everything else. So each is counted, by reason, and the
counts are logged at most once per interval (the first refusal after a quiet interval at
once). Only reasons and counts are logged: no header, address or token.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

import toolwire

_log: Final = toolwire.get_logger("toolwire.mcp")

#: Seconds between two summary lines at most.
SUMMARY_INTERVAL: Final = 10.0


class Refusals:
    """Counts refusals by reason and logs them as ``toolwire.mcp.refused`` summaries.

    Args:
        interval: The least time between two summary lines, in seconds.
        clock: Monotonic seconds (a seam for tests).
    """

    def __init__(
        self, interval: float = SUMMARY_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._last: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def note(self, reason: str) -> None:
        """Count one refusal; log the summary if the interval since the last line is over."""
        self._counts[reason] += 1
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to wait on: the next refusal or flush() reports it
                return
            self._timer = loop.call_later(self.interval - (now - self._last), self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line, if anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts:
            return
        fields: dict[str, float] = dict(sorted(self._counts.items()))
        fields["total"] = self._counts.total()
        self._counts.clear()
        now = self._clock()
        if self._last is not None:
            fields["seconds"] = round(now - self._last, 1)  # what the counts cover
        self._last = now
        _log.warning("toolwire.mcp.refused", **fields)
