"""``ConcurrencyLimit``: at most ``max_concurrency`` calls of one tool run at once."""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import TYPE_CHECKING, Any

from .._values import CallContext, ToolCall
from ..types import CallNext
from ._order import Order

if TYPE_CHECKING:
    from .._policy import ToolPolicy
    from .._tools import Tool


class _Slots:
    """A counting limit shared by every thread and event loop of one dispatcher.

    ``asyncio.Semaphore`` belongs to one loop, but a dispatcher serves several: its own, for
    the sync twins, and each loop a host awaits ``dispatch`` on (a loop per thread, say).
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]
        self._waiters = collections.deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free, without waiting."""
        # acquire() and release() in a try, not a with block: half the cost, on every call.
        lock = self._lock
        lock.acquire()
        try:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            return False
        finally:
            lock.release()

    async def acquire(self) -> None:
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                if (loop, waiter) in self._waiters:
                    self._waiters.remove((loop, waiter))
                    raise
            self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_grant, waiter)
                    return
            self._free += 1
        finally:
            lock.release()


def _grant(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ConcurrencyLimit:
    """At most ``max_concurrency`` calls of one tool are in progress at once, across threads
    and loops. A call holds its slot until it is answered: a function its deadline left
    running (see ``Timeout``) no longer holds one."""

    order = Order.CONCURRENCY

    def __init__(self) -> None:
        self._slots: dict[str, _Slots] = {}
        self._lock = threading.Lock()

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return policy.max_concurrency is not None

    def slots_for(self, context: CallContext) -> _Slots:
        """The tool's shared slot counter, made on its first call."""
        assert context.policy is not None and context.policy.max_concurrency is not None
        assert context.tool is not None
        slots = self._slots.get(context.tool.name)
        if slots is None:
            with self._lock:
                slots = self._slots.setdefault(
                    context.tool.name, _Slots(context.policy.max_concurrency)
                )
        return slots

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        slots = self.slots_for(context)
        if not slots.try_acquire():
            await slots.acquire()
        try:
            return await call_next(call, context)
        finally:
            slots.release()
