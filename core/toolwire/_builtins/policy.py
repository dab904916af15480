"""Execution policy as middleware: retries, per-tool concurrency limits, timeouts.

Outermost first: a retry wraps the whole attempt; each attempt waits for a concurrency slot,
then runs under its own deadline. Each layer is only put on the tools whose policy asks
for it.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from typing import Any, Final

from .._config import Config
from .._context import CallContext
from .._errors import ToolError, TransientError
from .._middleware import CallNext
from .._policy import ToolPolicy
from .._results import ToolCall
from .._tools import Tool
from ..hookspecs import hookimpl

DEFAULT_RETRY_ON: Final[tuple[type[BaseException], ...]] = (
    TimeoutError,
    ConnectionError,
    TransientError,
)


class Timeout:
    """Ends a call with ``timeout`` at its deadline.

    An ``async def`` tool is cancelled (its ``finally`` blocks run). A plain function cannot
    be stopped: the call still ends at the deadline, and the thread finishes on its own,
    counted by ``Dispatcher.stats()`` until it does.
    """

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return policy.timeout is not None

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        assert context.policy is not None and context.policy.timeout is not None
        seconds = context.policy.timeout
        try:
            async with asyncio.timeout(seconds) as scope:
                return await call_next(call, context)
        except TimeoutError:
            if not scope.expired():
                raise  # the tool's own TimeoutError, not our deadline
            raise ToolError(
                f"{call.name} did not finish within {seconds:g} seconds",
                kind="timeout",
                details={"timeout": seconds},
            ) from None


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
        assert context.policy is not None
        import tenacity

        retry_on = context.policy.retry_on or DEFAULT_RETRY_ON

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, ToolError):
                return exc.kind == "timeout" and issubclass(TimeoutError, retry_on)
            return isinstance(exc, retry_on)

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(1 + (context.policy.retries or 0)),
            wait=tenacity.wait_exponential_jitter(
                initial=self.initial_delay, max=self.max_delay, jitter=self.initial_delay
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
