"""Execution policy as middleware: retries, per-tool concurrency limits, timeouts.

Outermost first: a retry wraps the whole attempt; each attempt waits for a concurrency slot,
then runs under its own deadline. Each layer is only put on the tools whose policy asks
for it.
"""

from __future__ import annotations

import asyncio
import weakref
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


class ConcurrencyLimit:
    """At most ``max_concurrency`` calls of one tool run at once (per event loop)."""

    def __init__(self) -> None:
        # One semaphore per loop and tool: asyncio primitives belong to the loop they wait on.
        self._slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    def applies_to(self, tool: Tool, policy: ToolPolicy) -> bool:
        return policy.max_concurrency is not None

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        assert context.policy is not None and context.policy.max_concurrency is not None
        assert context.tool is not None
        per_loop = self._slots.setdefault(asyncio.get_running_loop(), {})
        slot = per_loop.get(context.tool.name)
        if slot is None:
            slot = per_loop[context.tool.name] = asyncio.Semaphore(context.policy.max_concurrency)
        async with slot:
            return await call_next(call, context)


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
