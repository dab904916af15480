"""Executors on the host's side: the in-process ones, and the innermost layer that hands a
validated call to any other executor and awaits its result.

Which executor runs a tool is decided once, when the routes are built: a tool bound to no
executor, to ``thread`` or to ``loop`` keeps the direct path (``await`` an ``async def``,
a plain function on the dispatcher's threads), so choosing costs nothing per call.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from ._errors import ConfigError, ToolError
from ._threads import ThreadRunner
from ._values import CallContext
from .propagation import inject
from .types import Job

if TYPE_CHECKING:
    from ._config import Config
    from ._tools import Tool
    from ._values import ToolCall
    from .types import Executor

#: The executors that run a call in the dispatcher's own process, on its direct path.
IN_PROCESS: Final = ("thread", "loop")

#: Set by a caller that must know whether a call's function ever started (an approved call):
#: one counter, of the attempts an executor could not take (``executor_unavailable``: nothing
#: ran), though each counts in ``CallContext.attempt``.
UNTAKEN: Final[ContextVar[list[int] | None]] = ContextVar("toolwire_untaken", default=None)


class InProcess:
    """``thread``: plain functions on threads, ``async def`` on the event loop (the default).
    ``loop``: ``async def`` tools only, on the event loop.

    A dispatcher never calls ``submit`` on these: it runs such a tool on its direct path, with
    its own threads. ``submit`` serves anyone composing executors, on threads of its own.

    Args:
        name: ``thread`` or ``loop``.
        threads: The most threads ``submit`` starts for plain functions.
    """

    def __init__(self, name: str, threads: int = 32) -> None:
        self.name = name
        self._threads = threads
        self._runner: ThreadRunner | None = None

    def __repr__(self) -> str:
        return f"<toolwire in-process executor {self.name!r}>"

    def check(self, tool: Tool) -> None:
        if self.name == "loop" and not tool.is_async:
            raise ValueError(
                "the loop executor runs async def tools only; a plain function would block "
                "the event loop (use thread or process)"
            )

    def start(self) -> None:
        """Nothing to start: threads start when a call needs one."""

    async def submit(self, job: Job) -> Any:
        if job.tool.is_async:
            return await job.tool.function(**job.kwargs)
        if self._runner is None:
            self._runner = ThreadRunner(self._threads)
        return await self._runner.run(job.tool.function, dict(job.kwargs))

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


class OnExecutor:
    """The innermost layer of a tool bound to an executor: hand over the call, await it."""

    __slots__ = ("executor", "plugin", "principal_key", "tool", "version")

    def __init__(
        self, tool: Tool, executor: Executor, plugin: str, version: str, principal_key: str
    ) -> None:
        self.tool = tool
        self.executor = executor
        self.plugin = plugin
        self.version = version
        self.principal_key = principal_key

    async def __call__(self, call: ToolCall, context: CallContext) -> Any:
        context.attempt += 1
        policy = context.policy
        timeout = policy.timeout if policy is not None else None
        principal = context.state.get(self.principal_key)
        job = Job(
            call.call_id,
            self.tool,
            call.arguments,  # type: ignore[arg-type]  # parsed and validated by now
            context.arguments,
            timeout,
            time.time() + timeout if timeout is not None else None,
            context.attempt,
            self.plugin,
            self.version,
            context.role,
            inject(),
            None if principal is None else str(principal),
            context.approval_id,
        )
        try:
            return await self.executor.submit(job)
        except ToolError as error:
            if error.kind == "executor_lost" and policy is not None and policy.idempotent:
                error.retryable = True  # running an idempotent tool again is safe
            if error.kind == "executor_unavailable" and (untaken := UNTAKEN.get()) is not None:
                untaken[0] += 1
            raise


def is_in_process(executor: Any) -> bool:
    """Whether the direct path serves this executor (no hand-over per call)."""
    return isinstance(executor, InProcess)


def executor_for(
    tool: Tool,
    name: str | None,
    executors: Mapping[str, tuple[Any, str]],
    config: Config,
    checked: set[str],
) -> Any:
    """The executor a tool is bound to, checked once for that tool; ``None`` for none.

    Raises:
        ConfigError: no loaded plugin registers that name, or the executor refuses the tool.
    """
    if name is None:
        return None
    found = executors.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(executors), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        kind = config.executor_settings().get(name, {}).get("kind")
        advice = (
            f" [executors.{name}] has kind {kind!r}: install and enable the plugin that runs "
            "that kind."
            if kind is not None and kind != name
            else " Name a registered executor, or install and enable the plugin that provides it."
        )
        raise ConfigError(
            f"tool {tool.name!r} runs on executor {name!r}, which no loaded plugin registers "
            f"(registered: {', '.join(sorted(executors)) or 'none'}){hint}.{advice}"
        )
    executor, plugin = found
    try:
        executor.check(tool)
    except ValueError as exc:
        raise ConfigError(
            f"tool {tool.name!r} cannot run on executor {name!r} (from plugin {plugin!r}): {exc}"
        ) from None
    if name not in checked:
        checked.add(name)
        executor.start()
    return executor


def unclaimed_tables(config: Config, executors: Mapping[str, tuple[Any, str]]) -> None:
    """Every ``[executors.NAME]`` table must be an executor a loaded plugin registered.

    Raises:
        ConfigError: a table no loaded plugin took up (its kind is unknown, or the plugin
            that runs that kind is not loaded).
    """
    for name, table in config.executor_settings().items():
        if name not in executors:
            raise ConfigError(
                f"[executors.{name}] in {config.describe()}: no loaded plugin runs executors "
                f"of kind {table['kind']!r}; install and enable the plugin that does, or "
                "remove the table."
            )
