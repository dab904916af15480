"""Execution policy as middleware: retries, per-tool concurrency limits, timeouts.

Outermost first: a retry wraps the whole attempt; each attempt waits for a concurrency slot,
then runs under its own deadline. Each layer is only put on the tools whose policy asks
for it.
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

from .._config import Config
from .._errors import ToolError, TransientError
from .._policy import ToolPolicy
from .._tools import Tool
from .._values import CallContext, ToolCall
from ..hookspecs import hookimpl
from ..types import CallNext

DEFAULT_RETRY_ON: Final[tuple[type[BaseException], ...]] = (
    TimeoutError,
    ConnectionError,
    TransientError,
)


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


class _Slots:
    """A counting limit shared by every thread and event loop of one dispatcher.

    ``asyncio.Semaphore`` belongs to one loop, but a dispatcher serves many: each
    ``dispatch_sync`` runs its own loop, and hosts call it from several threads.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]
        self._waiters = collections.deque()

    def try_acquire(self) -> bool:
        """Take a slot if one is free, without waiting."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            return False

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
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_grant, waiter)
                    return
            self._free += 1


def _grant(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ConcurrencyLimit:
    """At most ``max_concurrency`` calls of one tool run at once, across threads and loops."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slots] = {}
        self._lock = threading.Lock()

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return policy.max_concurrency is not None

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        assert context.policy is not None and context.policy.max_concurrency is not None
        assert context.tool is not None
        slots = self._slots.get(context.tool.name)
        if slots is None:
            with self._lock:
                slots = self._slots.setdefault(
                    context.tool.name, _Slots(context.policy.max_concurrency)
                )
        if not slots.try_acquire():
            await slots.acquire()
        try:
            return await call_next(call, context)
        finally:
            slots.release()


class Retry:
    """Retries transient failures with exponential backoff and jitter (tenacity).

    Only exceptions of ``retry_on`` types are retried (a deadline missed counts as
    ``TimeoutError``); validation, permission and unknown-tool errors end the call before
    middleware runs, so they never are.
    """

    def __init__(self, initial_delay: float = 0.2, max_delay: float = 5.0) -> None:
        self.initial_delay = initial_delay
        self.max_delay = max_delay

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return bool(policy.retries)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        # Most calls succeed the first time: only a transient failure pays for tenacity.
        try:
            return await call_next(call, context)
        except Exception as exc:
            assert context.policy is not None
            retry_on = context.policy.retry_on or DEFAULT_RETRY_ON

            def transient(exc: BaseException) -> bool:
                if isinstance(exc, ToolError):
                    return exc.kind == "timeout" and issubclass(TimeoutError, retry_on)
                return isinstance(exc, retry_on)

            if not transient(exc):
                raise
        import tenacity  # only calls that are retried pay for the import

        # The first retry waits what tenacity's exponential backoff waits after attempt 1;
        # tenacity then runs the remaining attempts, doubling from there.
        delay = min(self.initial_delay, self.max_delay)
        await asyncio.sleep(delay + random.uniform(0, self.initial_delay))
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(context.policy.retries or 0),
            wait=tenacity.wait_exponential_jitter(
                initial=self.initial_delay * 2, max=self.max_delay, jitter=self.initial_delay
            ),
            retry=tenacity.retry_if_exception(transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call_next(call, context)
        raise AssertionError("unreachable: tenacity re-raises the last failure")


class ExecutionPolicy:
    """Registers the policy middleware; ``[plugins.policy]`` tunes the retry backoff."""

    def __init__(self) -> None:
        self.retry = Retry()
        self.concurrency = ConcurrencyLimit()
        self.timeout = Timeout()

    @hookimpl
    def toolwire_configure(self, config: Config) -> None:
        settings = config.plugin_settings("policy")
        self.retry.initial_delay = float(settings.get("retry_initial_delay", 0.2))
        self.retry.max_delay = float(settings.get("retry_max_delay", 5.0))

    @hookimpl
    def toolwire_register_middleware(self, register: Callable[[Any], None]) -> None:
        register(self.retry)
        register(self.concurrency)
        register(self.timeout)
