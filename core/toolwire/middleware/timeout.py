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

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        assert context.policy is not None and context.policy.timeout is not None
        seconds = context.policy.timeout
        loop = asyncio.get_running_loop()
        wheel = self._wheel(loop)
        task = asyncio.current_task()
        assert task is not None
        deadline = _Deadline(task)
        key = wheel.add(loop, seconds, deadline)
        try:
            value = await call_next(call, context)
        except asyncio.CancelledError:
            # Ours when we cancelled and nobody else asked to: then it is a timeout.
            if deadline.expired and task.uncancel() == 0:
                raise ToolError(
                    f"{call.name} did not finish within {seconds:g} seconds",
                    kind="timeout",
                    details={"timeout": seconds},
                ) from None
            raise
        finally:
            wheel.remove(key, deadline)
        if deadline.expired:
            task.uncancel()  # the tool swallowed our cancellation and answered anyway
        return value
