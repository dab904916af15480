"""``Timeout``: a call ends with ``timeout`` at its deadline."""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import TYPE_CHECKING, Any, Final

from .._errors import ToolError
from .._values import CallContext, ToolCall
from ..types import CallNext
from ._order import Order

if TYPE_CHECKING:
    from .._policy import ToolPolicy
    from .._tools import Tool

#: Deadlines are grouped into slices of this many seconds, each with one timer.
DEADLINE_RESOLUTION: Final = 0.005


class _Deadline:
    """One call's deadline: the task to cancel, and whether it was."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.expired = False


class _DeadlineWheel:
    """Every running call's deadline on one event loop, one timer per time slice.

    ``asyncio.timeout`` makes, schedules and cancels a timer per call (about 4 us). Calls
    whose deadlines fall in the same slice share one timer here, so a call pays for a set
    insertion and removal; a deadline fires at most one slice late, never early.
    """

    def __init__(self) -> None:
        self._slices: dict[int, set[_Deadline]] = {}

    def add(self, loop: asyncio.AbstractEventLoop, seconds: float, deadline: _Deadline) -> int:
        key = math.ceil((loop.time() + seconds) / DEADLINE_RESOLUTION)
        members = self._slices.get(key)
        if members is None:
            members = self._slices[key] = set()
            loop.call_at(key * DEADLINE_RESOLUTION, self._expire, key)
        members.add(deadline)
        return key

    def remove(self, key: int, deadline: _Deadline) -> None:
        members = self._slices.get(key)
        if members is not None:
            members.discard(deadline)

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

    def arm(self, context: CallContext) -> _Armed:
        """Start the call's deadline on the running loop: its task is cancelled when it passes."""
        assert context.policy is not None and context.policy.timeout is not None
        seconds = context.policy.timeout
        loop = asyncio.get_running_loop()
        wheel = self._wheel(loop)
        task = asyncio.current_task()
        assert task is not None
        deadline = _Deadline(task)
        return _Armed(wheel, wheel.add(loop, seconds, deadline), deadline, seconds)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        armed = self.arm(context)
        try:
            value = await call_next(call, context)
        except asyncio.CancelledError:
            armed.cancelled(call)
            raise
        finally:
            armed.disarm()
        armed.answered()
        return value


class _Armed:
    """One running deadline, from ``Timeout.arm`` to ``disarm``."""

    __slots__ = ("deadline", "key", "seconds", "wheel")

    def __init__(
        self, wheel: _DeadlineWheel, key: int, deadline: _Deadline, seconds: float
    ) -> None:
        self.wheel, self.key, self.deadline, self.seconds = wheel, key, deadline, seconds

    def disarm(self) -> None:
        self.wheel.remove(self.key, self.deadline)

    def cancelled(self, call: ToolCall) -> None:
        """On ``CancelledError``: raise ``timeout`` when it was ours and nobody else asked."""
        deadline = self.deadline
        if deadline.expired and deadline.task.uncancel() == 0:
            raise ToolError(
                f"{call.name} did not finish within {self.seconds:g} seconds",
                kind="timeout",
                details={"timeout": self.seconds},
            ) from None

    def answered(self) -> None:
        """The call returned: take back a cancellation the tool swallowed."""
        if self.deadline.expired:
            self.deadline.task.uncancel()
