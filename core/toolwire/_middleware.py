"""The middleware onion around the execute stage.

A middleware is ``async (call, context, call_next) -> result``: it may run code before and
after ``await call_next(call, context)``, retry it, time it out, or raise ``ToolError`` to end
the call. An object with ``applies_to(tool, policy) -> bool`` is only put on the tools it
accepts, so a tool pays only for the middleware its policy asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._logging import log as _log
from .types import CallNext, Middleware

if TYPE_CHECKING:
    from ._policy import ToolPolicy
    from ._tools import Tool


def applies(middleware: Any, tool: Tool, policy: ToolPolicy) -> bool:
    """Whether this middleware wants to wrap calls of this tool.

    An ``applies_to`` that raises is logged and the middleware is applied: a limit that
    cannot say where it applies is kept rather than silently dropped.
    """
    check = getattr(middleware, "applies_to", None)
    if check is None:
        return True
    try:
        return bool(check(tool, policy))
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the dispatcher
        _log.error(
            "toolwire.applies_to_failed",
            middleware=repr(middleware),
            tool=tool.name,
            exc_info=exc,
        )
        return True


def order_of(middleware: Any) -> int:
    """Where a middleware sits (``toolwire.middleware.Order``); ``INNER`` when it does not say."""
    from .middleware import Order

    order = getattr(middleware, "order", Order.INNER)
    if isinstance(order, bool) or not isinstance(order, int):
        raise ConfigError(
            f"middleware {middleware!r} has order {order!r}; an order is a whole number "
            "(see toolwire.middleware.Order)"
        )
    return int(order)


def compose(middleware: Sequence[Middleware], innermost: CallNext) -> CallNext:
    """Wrap ``innermost`` so the first middleware is the outermost layer (already ordered)."""
    handler = innermost
    for layer in reversed(middleware):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, call_next: CallNext) -> CallNext:
    # A plain function returning the layer's awaitable: no extra coroutine per layer per call.
    return lambda call, context: layer(call, context, call_next)
