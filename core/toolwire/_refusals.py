"""Refusals an outsider can cause, logged as summaries: one line now and then, never one each.

A refusal a plugin makes of what arrives from outside (a forged job on a queue, a foreign
``Origin``, a missing token, a slow client cut off) is something an outsider chooses to cause,
as often as they like: a line each would let them fill the disk and drown everything else. So
each is counted, by reason, and the counts are logged at most once per interval (the first
refusal after a quiet interval at once). Only reasons and counts are logged: never what was
sent, an address or a token.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Final

from ._logging import get_logger

#: Seconds between two summary lines at most, unless told otherwise.
SUMMARY_INTERVAL: Final = 10.0


class RefusalSummary:
    """Counts refusals by reason and logs them as summary lines of one event.

    Each line is a warning of logger ``logger``, event ``event``, with one field per reason
    (how many of it), ``total``, and ``seconds`` (the time the counts cover, from the second
    line on). Use one per thing that refuses (a server, a worker), owned by it: no state is
    global.

    Args:
        logger: The logger's name (``toolwire.get_logger``), e.g. ``"toolwire.mcp"``.
        event: The event of every summary line, e.g. ``"toolwire.mcp.refused"``.
        interval: The least time between two summary lines, in seconds.
        clock: Monotonic seconds (a seam for tests).
    """

    def __init__(
        self,
        logger: str,
        event: str,
        *,
        interval: float = SUMMARY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.event = event
        self.interval = interval
        self._log = get_logger(logger)
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._last: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def note(self, reason: str) -> None:
        """Count one refusal; log the summary if the interval since the last line is over.

        Otherwise the summary is logged when the interval ends (on the running event loop, if
        there is one; else by the next ``note`` or ``flush``).
        """
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
        """Log what was counted since the last line, if anything (call it when closing)."""
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
        self._log.warning(self.event, **fields)
