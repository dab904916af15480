"""The shapes plugin authors type against: middleware, CLI commands, progress reports.

Everything here is a protocol or a plain record; importing it costs nothing at run time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import argparse

    from ._values import CallContext, ToolCall

__all__ = ["CallNext", "Command", "Middleware", "ProgressCallback"]

#: The rest of the onion, as a middleware receives it: ``await call_next(call, context)``
#: returns the tool's value or raises ``ToolError``.
CallNext = Callable[["ToolCall", "CallContext"], Awaitable[Any]]

#: What a host passes as ``progress=`` to ``dispatch``: called as
#: ``progress(progress, total, message)`` from the thread the tool runs in, each time the tool
#: calls ``CallContext.report_progress``. It must not block.
ProgressCallback = Callable[[float, "float | None", "str | None"], None]


class Middleware(Protocol):
    """The shape middleware takes: ``async (call, context, call_next) -> value``.

    A plain ``async def`` function fits. Optional attributes, read once at start:

    - ``order`` (int): where it sits in the onion, lowest outermost; see
      ``toolwire.middleware.Order`` for the built-in places. Without one it sits innermost,
      at ``Order.INNER``. Equal orders keep registration order.
    - ``applies_to(tool, policy) -> bool``: put it only on the tools it accepts.
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
