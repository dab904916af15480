"""Progress reports from a tool on a worker to its host's ``progress=`` consumer.

On the worker, an ``Outbox`` per call: the tool's ``CallContext.report_progress`` (from any
thread) is paced, numbered, signed and published on the host's channel, in order, and all of
it before the reply. On the host, an ``Inbox`` per call: reports checked by the link (``_wire``)
are taken in order, paced again, and handed to the caller's loop, none after the result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import redis.asyncio
import toolwire
from redis.exceptions import RedisError

from ._wire import PROGRESS_INTERVAL, Signer

_log: Final = toolwire.get_logger("toolwire.taskiq")

#: One report: how much is done, of how much (or ``None``), and a status (or ``None``).
Report = tuple[float, float | None, str | None]

#: Seconds the host waits, once the reply is there, for reports the reply says were sent and
#: that have not arrived yet (published before the reply, so normally already on their way).
PROGRESS_GRACE: Final = 0.5


class Pacer:
    """At most one report per ``PROGRESS_INTERVAL``, on one event loop.

    A report that comes sooner is held, replaced by any later one (the latest wins), and
    passed on when the interval is over; ``close()`` passes on the one held, so the last
    report is never lost, and drops every report after it.
    """

    __slots__ = ("closed", "emit", "held", "last", "loop", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, emit: Callable[[Report], None]) -> None:
        self.loop = loop
        self.emit = emit
        self.last = float("-inf")
        self.held: Report | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def offer(self, report: Report) -> None:
        if self.closed:
            return
        now = self.loop.time()
        wait = self.last + PROGRESS_INTERVAL - now
        if wait > 0:
            self.held = report
            if self.timer is None:
                self.timer = self.loop.call_later(wait, self._release)
            return
        self.last, self.held = now, None  # one held is older than this one: dropped
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.emit(report)

    def _release(self) -> None:
        self.timer = None
        held, self.held = self.held, None
        if held is not None and not self.closed:
            self.last = self.loop.time()
            self.emit(held)

    def close(self, *, flush: bool = True) -> None:
        """Pass on the report held, unless ``flush`` is false; drop every later one."""
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        held, self.held = self.held, None
        if held is not None and flush:
            self.emit(held)


class Outbox:
    """A worker's side of one call's progress: what the tool reports goes to the host's
    channel, signed and numbered, one publication at a time so that order holds."""

    def __init__(self, client: redis.asyncio.Redis, channel: str, signer: Signer, job: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.client = client
        self.channel = channel
        self.signer = signer
        self.job = job
        self.sent = 0  # the number of the last report queued for publication
        self.unsent = 0  # reports Redis did not take
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.pacer = Pacer(self.loop, self._queue)
        self.sender = self.loop.create_task(self._send())

    def report(self, progress: float, total: float | None, message: str | None) -> None:
        """The call's ``CallContext.progress``: safe from any thread, never blocks."""
        text = None if message is None else str(message)
        with contextlib.suppress(RuntimeError):  # a closed loop: the worker is going away
            self.loop.call_soon_threadsafe(self.pacer.offer, (progress, total, text))

    def _queue(self, report: Report) -> None:
        self.sent += 1
        try:
            sealed = self.signer.seal_progress(self.job, self.sent, *report)
        except ValueError:  # NaN or infinity: no JSON number, not sent
            self.sent -= 1
            return
        self.pending.append(sealed)
        self.wake.set()

    async def _send(self) -> None:
        while True:
            while self.pending:
                sealed = self.pending.popleft()
                try:
                    await self.client.publish(self.channel, sealed)
                except (RedisError, OSError) as exc:
                    if not self.unsent:  # once per call: the reports are lost, not the reply
                        _log.warning(
                            "toolwire_taskiq.progress_failed", job=self.job, error=repr(exc)
                        )
                    self.unsent += 1
            if self.closing:
                return
            self.wake.clear()
            await self.wake.wait()

    async def finish(self) -> int:
        """Publish the report held back and every one queued; the number of the last one.

        Call it once the tool is over and before the reply: reports that come after are
        dropped, so none reaches the host after the result. (What a tool's thread reported
        before it returned is on the loop before its return is.)
        """
        self.pacer.close()
        self.closing = True
        self.wake.set()
        await self.sender
        return self.sent

    def abort(self) -> None:
        """Drop what is left (the worker is going away)."""
        self.pacer.close(flush=False)
        self.sender.cancel()


class Inbox:
    """A host's side of one call's progress: reports in order, paced, passed on to the
    caller's loop, and none once the call is over there.

    Args:
        caller: The loop the call was submitted from, where ``report`` runs.
        report: The call's ``CallContext.report_progress``.
    """

    def __init__(
        self, caller: asyncio.AbstractEventLoop, report: Callable[[float, Any, Any], None]
    ) -> None:
        self.caller = caller
        self.report = report
        self.over = False  # set on the caller's loop when the call returns there
        self.seq = 0
        self.pacer: Pacer | None = None
        self.until = 0
        self.caught_up: asyncio.Event | None = None

    def start(self) -> None:
        """On the executor's loop, before the job is sent."""
        self.pacer = Pacer(asyncio.get_running_loop(), self._deliver)
        self.caught_up = asyncio.Event()

    def take(self, seq: int, report: Report) -> bool:
        """A checked report of this call's job; ``False`` when it is not newer than the last."""
        if seq <= self.seq or self.pacer is None:
            return False
        self.seq = seq
        self.pacer.offer(report)
        if self.caught_up is not None and self.until and seq >= self.until:
            self.caught_up.set()
        return True

    async def finish(self, reports: Any) -> None:
        """The reply is there and says ``reports`` were sent: wait a little for those not yet
        taken, pass on the one held, and take no more."""
        if (
            isinstance(reports, int)
            and reports > self.seq
            and self.caught_up is not None
            and self.pacer is not None
            and not self.pacer.closed
        ):
            self.until = reports
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.caught_up.wait(), PROGRESS_GRACE)
        self.close()

    def close(self, *, flush: bool = True) -> None:
        if self.pacer is not None:
            self.pacer.close(flush=flush)

    def _deliver(self, report: Report) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
            self.caller.call_soon_threadsafe(self._on_caller, report)

    def _on_caller(self, report: Report) -> None:
        if not self.over:
            self.report(*report)
