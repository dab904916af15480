"""``Timeout``: a call ends with ``timeout`` at its deadline."""

from __future__ import annotations

import asyncio
import math
import time
import types
import weakref
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Final

from .._errors import ToolError
from .._tasks import relay
from .._values import CallContext, ToolCall
from ..types import CallNext
from ._order import Order

if TYPE_CHECKING:
    from .._policy import ToolPolicy
    from .._tools import Tool

#: Deadlines are grouped into slices of this many seconds, each with one timer.
DEADLINE_RESOLUTION: Final = 0.005

_monotonic: Final = time.monotonic


class _Deadline:
    """One running call's deadline, from ``Timeout.arm`` to ``disarm``: the task to cancel,
    and whether it was."""

    __slots__ = ("base", "expired", "key", "seconds", "task", "wheel")

    def __init__(
        self, task: asyncio.Task[Any], wheel: _DeadlineWheel, key: int, seconds: float
    ) -> None:
        self.task = task
        self.base = task.cancelling()  # cancels asked before the call: never the deadline's
        self.expired = False
        self.wheel, self.key, self.seconds = wheel, key, seconds

    def disarm(self) -> None:
        members = self.wheel._slices.get(self.key)
        if members is not None:
            members.discard(self)

    def cancelled(self, call: ToolCall) -> None:
        """On ``CancelledError``, or any failure once the deadline has passed (a tool that
        raised its own error while handling the cancel): take the deadline's cancel back, and
        raise ``timeout`` when nobody else asked to cancel. As ``asyncio.timeout`` does, the
        task's count of cancel requests is left as it was before the call."""
        if self.expired and self.task.uncancel() <= self.base:
            raise ToolError(
                f"{call.name} did not finish within {self.seconds:g} seconds",
                kind="timeout",
                details={"timeout": self.seconds},
            ) from None

    def answered(self) -> None:
        """The call returned: take back a cancellation the tool swallowed."""
        if self.expired:
            self.task.uncancel()


class _DeadlineWheel:
    """Every running call's deadline on one event loop, one timer per time slice.

    ``asyncio.timeout`` makes, schedules and cancels a timer per call (about 4 us). Calls
    whose deadlines fall in the same slice share one timer here, so a call pays for a set
    insertion and removal; a deadline fires at most one slice late, never early.
    """

    def __init__(self) -> None:
        self._slices: dict[int, set[_Deadline]] = {}

    def add(
        self,
        loop: asyncio.AbstractEventLoop,
        seconds: float,
        task: asyncio.Task[Any],
        spent: float = 0.0,
    ) -> _Deadline:
        key = math.ceil((loop.time() + seconds - spent) / DEADLINE_RESOLUTION)
        deadline = _Deadline(task, self, key, seconds)
        members = self._slices.get(key)
        if members is None:
            members = self._slices[key] = set()
            loop.call_at(key * DEADLINE_RESOLUTION, self._expire, key)
        members.add(deadline)
        return deadline

    def _expire(self, key: int) -> None:
        for deadline in self._slices.pop(key, ()):
            deadline.expired = True
            deadline.task.cancel()


class Timeout:
    """Ends a call with ``timeout`` at its deadline.

    An ``async def`` tool is cancelled (its ``finally`` blocks run). A plain function cannot
    be stopped: the call still ends at the deadline, and the thread finishes on its own,
    counted by ``Dispatcher.stats()`` until it does.
    """

    order = Order.TIMEOUT

    def __init__(self) -> None:
        # Timers belong to a loop; the wheel goes when its loop does.
        self._wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _DeadlineWheel]
        self._wheels = weakref.WeakKeyDictionary()
        # The loop most calls come from, and its wheel: a weak pair, checked before the map.
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _DeadlineWheel] | None = None

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return policy.timeout is not None

    def _wheel(self, loop: asyncio.AbstractEventLoop) -> _DeadlineWheel:
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        wheel = self._wheels.get(loop)
        if wheel is None:
            wheel = self._wheels[loop] = _DeadlineWheel()
        self._last = (weakref.ref(loop), wheel)
        return wheel

    def arm(self, context: CallContext, spent: float = 0.0) -> _Deadline:
        """Start the call's deadline on the running loop: its task is cancelled when it passes.

        ``spent`` (seconds) is how much of the timeout the call has already used.
        """
        seconds = context.policy.timeout  # type: ignore[union-attr]  # applies_to: it has one
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None and seconds is not None
        return self._wheel(loop).add(loop, seconds, task, spent)

    def bound(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Awaitable[Any]:
        """``call_next(call, context)``, awaited within the call's deadline."""
        return _bounded(self, call, context, call_next)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        return await _bounded(self, call, context, call_next)


@types.coroutine
def _bounded(
    timeout: Timeout, call: ToolCall, context: CallContext, call_next: CallNext
) -> Generator[Any, Any, Any]:
    """Await the rest of the call within its deadline.

    The deadline is armed when the call first waits, counting from its start: until then the
    loop runs nothing else, so no timer could fire (``asyncio.timeout`` would cancel the task
    at that same first wait). A call that finishes without waiting, as many ``async def``
    tools do, never pays for a timer. Once armed, every step of the call passes through as
    ``await`` passes it. A generator awaited as it is (``types.coroutine``): no object and no
    coroutine of its own per call.
    """
    started = _monotonic()
    steps = call_next(call, context).__await__()
    try:
        pending = steps.send(None)
    except StopIteration as done:
        return done.value  # it never waited: no deadline could have passed
    armed = timeout.arm(context, _monotonic() - started)
    try:
        value = yield from relay(steps, pending)
    except (asyncio.CancelledError, Exception):
        armed.cancelled(call)
        raise
    finally:
        armed.disarm()
    armed.answered()
    return value
