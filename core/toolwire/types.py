"""The shapes plugin authors type against: middleware, executors, CLI commands, progress reports.

Everything here is a protocol or a plain record; importing it costs nothing at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._logging import Redaction
from ._values import ProgressCallback

if TYPE_CHECKING:
    import argparse

    from ._tools import Tool
    from ._values import CallContext, ToolCall

__all__ = [
    "CallNext",
    "Command",
    "Executor",
    "Job",
    "Middleware",
    "ProgressCallback",
    "Redaction",
]

#: The rest of the onion, as a middleware receives it: ``await call_next(call, context)``
#: returns the tool's value or raises ``ToolError``.
CallNext = Callable[["ToolCall", "CallContext"], Awaitable[Any]]


class Middleware(Protocol):
    """The shape middleware takes: ``async (call, context, call_next) -> value``.

    A plain ``async def`` function fits. Optional attributes, read once at start:

    - ``order`` (int): where it sits in the onion, lowest outermost; see
      ``toolwire.middleware.Order`` for the built-in places. Without one it sits innermost,
      at ``Order.INNER``. Equal orders keep registration order.
    - ``applies_to(tool, policy) -> bool``: put it only on the tools it accepts.
    - ``admit(call, context) -> None``: for a middleware that only decides whether an attempt
      goes on (a rate limit or quota counted in process), the same decision as a plain
      function (not ``async def``): return to let the attempt go on, raise ``ToolError`` to
      end it. It must not block or do I/O. Next to the built-in layers, in their order, the
      first attempt runs it inside their one coroutine instead of wrapping the call in its
      own; other attempts and places run ``__call__``, which must decide and count alike.

    A middleware is checked at registration (``ConfigError``, naming its plugin): callable
    with ``(call, context, call_next)``, a whole-number ``order``, a plain ``admit``.
    """

    def __call__(
        self, call: ToolCall, context: CallContext, call_next: CallNext
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Command:
    """A ``toolwire`` subcommand a plugin contributes (``toolwire_register_commands``).

    Attributes:
        name: The subcommand (``toolwire NAME ...``); it may not shadow a built-in one.
        help: One line for ``toolwire --help``.
        run: Runs the command with the parsed arguments and returns the exit code (0 success,
            1 a failure the command found, 2 a usage error). The namespace carries the global
            options too: ``args.config`` (a path or ``None``), ``args.json``.
        setup: Adds the command's own arguments (and subcommands) to its parser.
        description: The longer text of ``toolwire NAME --help``.
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    setup: Callable[[argparse.ArgumentParser], None] | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A validated call, handed to the executor its tool is bound to.

    Everything the host decides about the call (permission, hooks, middleware: retries, rate
    limits, concurrency, the deadline's own timer) has been decided; the executor only runs
    the function and serializes its result.

    Attributes:
        call_id: The call's id.
        tool: The tool; ``tool.name`` is what a remote worker looks it up by.
        arguments: The arguments as validated against the tool's JSON Schema: JSON values,
            what a worker in another process validates again.
        kwargs: The same arguments converted to the function's parameter types, with the
            ``CallContext`` injected when the tool asks for one: what an executor in this
            process passes to the function.
        timeout: Seconds the call may run (the tool's ``timeout``), or ``None``.
        deadline: When the call must be over, as ``time.time()`` seconds (the moment of
            submission plus ``timeout``), or ``None``. Wall-clock time, so that a worker on
            another machine can read it.
        attempt: 1 for the first run of the call, 2 for its first retry, and so on.
        plugin: The plugin that registered the tool (its entry-point name).
        version: The version of that plugin's distribution (``""`` for one a host added by
            hand); a remote worker refuses a call whose version differs from its own.
        role: The role the host dispatched under.
        trace_context: The call's trace context as propagation headers (W3C
            ``traceparent``, ``tracestate``, ``baggage``), written where the call leaves the
            host: empty when neither a span nor baggage is current, or ``opentelemetry-api`` is
            not installed. A worker makes it current around the function
            (``toolwire.propagation.attached``), so the tool's spans join the call's trace.
        principal: Who the call is made for: the value of the host state's
            ``[approvals] principal_key``, as text, or ``None``.
        approval_id: The id of the approval a person gave the call, or ``None``.
    """

    call_id: str
    tool: Tool
    arguments: Mapping[str, Any]
    kwargs: Mapping[str, Any]
    timeout: float | None
    deadline: float | None
    attempt: int
    plugin: str
    version: str
    role: str | None = None
    trace_context: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None
    approval_id: str | None = None


class Executor(Protocol):
    """Where a tool's function runs: a thread, a worker process, a remote worker.

    Registered by name through ``toolwire_register_executors(register)``; a tool is bound to
    one with ``executor="NAME"``, ``[tools.NAME] executor`` or ``[defaults] executor``. The
    middleware stays in the host: an executor runs only the function and the serialization
    of its result. The protocol names no engine, so that any task system (taskiq, Celery,
    Temporal...) can stand behind it.

    Lifecycle: ``check`` once per tool bound to it and ``start`` once, when a dispatcher
    builds its routes; ``submit`` per call; ``close`` from the registering plugin's
    ``toolwire_close``. After ``close`` a later ``start`` makes it usable again.
    """

    def check(self, tool: Tool) -> None:
        """Refuse, at start, a tool this executor cannot run.

        Raises:
            ValueError: why not (a process executor cannot import a closure or a lambda by
                reference); the start fails with this reason and the tool's name.
        """

    def start(self) -> None:
        """Get ready to take calls; cheap and idempotent (workers may start on first use)."""

    async def submit(self, job: Job) -> Any:
        """Run one call and return the function's value.

        A value that crossed a process boundary is the decoded JSON of the result (the
        executor serializes it where it ran). Cancelling the task that awaits ``submit``
        (the deadline passed, or the caller gave up) cancels the call: the executor stops it
        where it runs (kills the worker process, tells the remote worker), and the
        ``CancelledError`` propagates. A reply that arrives after that is discarded.

        Raises:
            ToolError: ``executor_unavailable`` when the call could not be handed over
                (nothing ran); ``executor_lost`` when the worker running it died or stopped
                sending heartbeats; ``timeout`` when the executor itself saw the deadline
                pass; or the tool's own ``ToolError``.
            Exception: what the tool raised, for the host to log and answer.
        """

    def close(self) -> None:
        """Stop every worker, thread and connection; nothing is left running."""
