"""The innermost layer of a route: what starts a tool's function, chosen once per tool.

Middleware never calls back into the dispatcher; the layer it calls last starts the function:
awaits an ``async def`` on the loop, hands a plain function to the dispatcher's threads, or
(within a deadline) leaves behind an ``async def`` that ignores its cancellation.

A route with no middleware gets ``Start``, which is no coroutine of its own: it starts the
function and hands back what to await, so the call costs no frame beyond the tool's. Where
middleware wraps the tool, the layer is a coroutine whose frame shows in a traceback, and
that is how a failure is told to be the tool's own and not a middleware's (``INNERMOST``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from ._executors import OnExecutor
from ._policy import ToolPolicy
from ._tasks import TaskRunner
from ._threads import ThreadRunner
from ._tools import Tool
from ._values import CallContext, ToolCall
from .types import CallNext


class Start:
    """The innermost layer of a route with no middleware: start the tool, return its awaitable
    (the ``async def``'s coroutine, or the wait for its thread)."""

    __slots__ = ("function", "threads")

    def __init__(self, function: Callable[..., Any], threads: ThreadRunner | None) -> None:
        self.function = function
        self.threads = threads

    def __call__(self, call: ToolCall, context: CallContext) -> Awaitable[Any]:
        context.attempt += 1
        if self.threads is None:
            coroutine: Awaitable[Any] = self.function(**context.arguments)
            return coroutine
        return self.threads.run(self.function, context.arguments)


class AwaitTool:
    """The innermost layer of an ``async def`` tool: start it once, await it on the loop."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    async def __call__(self, call: ToolCall, context: CallContext) -> Any:
        context.attempt += 1
        return await self.function(**context.arguments)


class AwaitWithinDeadline:
    """The innermost layer of an ``async def`` tool with a timeout: await it, but leave it
    behind when it ignores its cancellation past the grace (``_tasks``), so that the deadline
    answers."""

    __slots__ = ("function", "tasks")

    def __init__(self, function: Callable[..., Any], tasks: TaskRunner) -> None:
        self.function = function
        self.tasks = tasks

    async def __call__(self, call: ToolCall, context: CallContext) -> Any:
        context.attempt += 1
        # TaskRunner.run, inlined: this is the path of every call with a deadline.
        coroutine = self.function(**context.arguments)
        try:
            pending = coroutine.send(None)
        except StopIteration as done:
            return done.value
        return await self.tasks.drive(coroutine, pending)


class OnThread:
    """The innermost layer of a plain function: start it once on the dispatcher's threads."""

    __slots__ = ("function", "threads")

    def __init__(self, function: Callable[..., Any], threads: ThreadRunner) -> None:
        self.function = function
        self.threads = threads

    async def __call__(self, call: ToolCall, context: CallContext) -> Any:
        context.attempt += 1
        return await self.threads.run(self.function, context.arguments)


def innermost_layer(
    tool: Tool, policy: ToolPolicy, threads: ThreadRunner, tasks: TaskRunner, bare: bool
) -> CallNext:
    """The layer that starts ``tool``; ``bare``: no middleware wraps it."""
    if tool.is_async:
        if policy.timeout is not None:
            return AwaitWithinDeadline(tool.function, tasks)
        return Start(tool.function, None) if bare else AwaitTool(tool.function)
    return Start(tool.function, threads) if bare else OnThread(tool.function, threads)


#: The innermost layers' code: an exception that passed through one is the tool's own.
INNERMOST: Final = frozenset(
    layer.__call__.__code__ for layer in (AwaitTool, AwaitWithinDeadline, OnThread, OnExecutor)
)
