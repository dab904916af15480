"""The middleware onion around the execute stage.

A middleware is ``async (call, context, call_next) -> result``: it may run code before and
after ``await call_next(call, context)``, retry it, time it out, or raise ``ToolError`` to end
the call. An object with ``applies_to(tool, policy) -> bool`` is only put on the tools it
accepts, so a tool pays only for the middleware its policy asks for.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._logging import log as _log
from .types import CallNext, Middleware

if TYPE_CHECKING:
    from ._policy import ToolPolicy
    from ._tools import Tool


def applies(middleware: Any, plugin: str, tool: Tool, policy: ToolPolicy) -> bool:
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
            plugin=plugin,
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


def check_shape(layer: Any, source: str) -> None:
    """Refuse, at registration, a middleware that could only fail on every call.

    Raises:
        ConfigError: naming ``source`` (the plugin): not callable; a ``__call__`` that cannot
            take ``(call, context, call_next)``; an ``admit`` that is not a plain function
            of ``(call, context)`` (an ``async def`` one would never refuse anything); an
            ``order`` that is not a whole number.
    """
    if not callable(layer):
        raise ConfigError(f"{source!r} registered middleware that is not callable: {layer!r}")
    _check_takes(layer, ("call", "context", "call_next"), f"middleware {layer!r}", source)
    admit = getattr(layer, "admit", None)
    if admit is not None:
        if not callable(admit) or inspect.iscoroutinefunction(admit):
            raise ConfigError(
                f"{source!r} registered middleware {layer!r} whose admit is "
                f"{'an async function' if callable(admit) else repr(admit)}; admit is a plain "
                "function of (call, context) that returns to let the call go on or raises "
                "ToolError (it is never awaited); remove it to have __call__ run instead"
            )
        _check_takes(admit, ("call", "context"), f"the admit of middleware {layer!r}", source)
    try:
        order_of(layer)
    except ConfigError as exc:
        raise ConfigError(f"{source!r} registered {exc}") from None


def _check_takes(function: Any, names: tuple[str, ...], what: str, source: str) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # no signature to read (a builtin): its first call will tell
    try:
        signature.bind(*names)
    except TypeError as exc:
        raise ConfigError(
            f"{source!r} registered {what}, which cannot be called with ({', '.join(names)}): {exc}"
        ) from None


def code_of(layer: Any) -> CodeType | None:
    """The code object of a middleware's function, or of its class's own ``__call__``."""
    function = getattr(layer, "__code__", None)
    if isinstance(function, CodeType):
        return function
    method = type(layer).__dict__.get("__call__")  # the class's own: a middleware object
    code = getattr(method, "__code__", None)
    return code if isinstance(code, CodeType) else None


class Awaited:
    """A middleware that is no ``async def`` (a plain function returning ``call_next(...)``,
    say), as one: what it returns must be awaitable. When it is not, the ``TypeError`` is
    raised here, in a frame that names the middleware's plugin, rather than where the layer
    outside it awaits it (which would blame that layer, or the tool)."""

    __slots__ = ("layer", "plugin")

    def __init__(self, layer: Any, plugin: str) -> None:
        self.layer, self.plugin = layer, plugin

    async def __call__(self, call: Any, context: Any, call_next: CallNext) -> Any:
        result = self.layer(call, context, call_next)
        if not inspect.isawaitable(result):
            raise TypeError(
                f"middleware {self.layer!r} returned a {type(result).__name__}, not an "
                "awaitable: a middleware is an async def, or returns what call_next returns"
            )
        return await result


def awaited(layer: Any, plugin: str) -> Any:
    """``layer`` itself when it is an ``async def`` (a function, or an object whose class's
    ``__call__`` is one); else wrapped in ``Awaited``."""
    call = inspect.getattr_static(type(layer), "__call__", None)  # the class's, inherited too
    if inspect.iscoroutinefunction(layer) or inspect.iscoroutinefunction(call):
        return layer
    return Awaited(layer, plugin)


def compose(middleware: Sequence[Middleware], innermost: CallNext) -> CallNext:
    """Wrap ``innermost`` so the first middleware is the outermost layer (already ordered)."""
    handler = innermost
    for layer in reversed(middleware):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: Middleware, call_next: CallNext) -> CallNext:
    # A plain function returning the layer's awaitable: no extra coroutine per layer per call.
    return lambda call, context: layer(call, context, call_next)
