"""The policy layers that sit next to each other, run as one layer.

``Retry``, admission checks (a middleware's ``admit``: rate limits and quotas counted in
process), ``ConcurrencyLimit`` and ``Timeout`` behave exactly as they do apart; where a route
has two or more of them side by side, in that order, one coroutine does their work instead of
one each: the first attempt inline, and only after a transient failure the layers apart
again. The built-in layers of a run come from one plugin; admission checks from any.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from types import CodeType
from typing import Any, Final

from .._errors import ToolError
from .._hookwalk import plugin_failed
from .._middleware import code_of, compose
from .._values import CallContext, ToolCall
from ..types import CallNext
from .concurrency import ConcurrencyLimit, _Slots
from .retry import Retry, transient
from .timeout import Timeout

#: Where each kind of layer runs in a stack, outermost first; an admission check is ``_ADMIT``.
_POSITIONS: Final[dict[type, int]] = {Retry: 0, ConcurrencyLimit: 2, Timeout: 3}
_ADMIT: Final = 1


class PolicyStack:
    """``Retry`` (optional) around admission checks (any number) around ``ConcurrencyLimit``
    (optional) around ``Timeout`` (optional)."""

    __slots__ = ("admits", "checks", "limit", "order", "plugin", "retry", "slots", "timeout")

    def __init__(
        self,
        retry: Retry | None,
        limit: ConcurrencyLimit | None,
        timeout: Timeout | None,
        admits: Sequence[tuple[Any, str]] = (),
        plugin: str = "",
    ) -> None:
        self.retry, self.limit, self.timeout = retry, limit, timeout
        self.admits = tuple(admits)  # (middleware, its plugin), in order
        self.checks: tuple[Callable[[ToolCall, CallContext], None], ...] = tuple(
            m.admit for m, _ in self.admits
        )
        self.plugin = plugin  # the built-in layers' plugin
        layers = [m for m in (retry, limit, timeout) if m is not None]
        self.order = min(m.order for m in [*layers, *(m for m, _ in self.admits)])
        self.slots: _Slots | None = None  # the route's tool's, from its first call (one tool)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        limit, timeout = self.limit, self.timeout
        try:
            for admit in self.checks:
                if (answer := admit(call, context)) is not None:
                    raise self._answered(admit, answer, call)
            slots = self.slots
            if limit is not None:
                if slots is None:
                    slots = self.slots = limit.slots_for(context)
                if not slots.try_acquire():
                    await slots.acquire()
            try:
                if timeout is None:
                    return await call_next(call, context)
                return await timeout.bound(call, context, call_next)
            finally:
                if slots is not None:
                    slots.release()
        except Exception as exc:
            if self.retry is None or not transient(exc, context):
                raise
            failure = exc
        return await self.retry.again(failure, call, context, self._apart(call_next))

    def _answered(self, admit: Any, answer: Any, call: ToolCall) -> ToolError:
        """An ``admit`` that returned something (an awaitable it meant to be awaited, say) is
        never taken for "go on": the call ends with ``internal_error``, its plugin named."""
        if inspect.iscoroutine(answer):
            answer.close()  # never awaited, on purpose: no warning about it
        plugin = next(p for m, p in self.admits if m.admit == admit)
        return plugin_failed(
            plugin,
            "middleware",
            call,
            TypeError(
                f"admit of middleware {admit!r} returned a value; an admit returns None to let "
                "the attempt go on or raises ToolError (it is never awaited)"
            ),
        )

    def blame(self) -> dict[CodeType, str]:
        """Whose code each frame of the stack is: its own, and each admission check's."""
        owners = {PolicyStack.__call__.__code__: self.plugin or self.admits[0][1]}
        for middleware, plugin in self.admits:
            # admit runs on a first attempt, __call__ on the attempts after a retry
            for code in (getattr(middleware.admit, "__code__", None), code_of(middleware)):
                if isinstance(code, CodeType):
                    owners[code] = plugin
        return owners

    def _apart(self, call_next: CallNext) -> CallNext:
        inner = [m for m in (self.limit, self.timeout) if m is not None]
        return compose([*(m for m, _ in self.admits), *inner], call_next)


def admits(middleware: Any) -> bool:
    """Whether a middleware offers a plain ``admit(call, context)`` check (``toolwire.types``)."""
    return callable(getattr(middleware, "admit", None))


def fuse(layers: Sequence[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """``layers`` (ordered, with their plugins) with each run of adjacent policy layers that
    can be one (built-in ones of one plugin, each at most once, and admission checks, in the
    stack's order) replaced by one ``PolicyStack``."""
    fused: list[tuple[Any, str]] = []
    run: list[tuple[Any, str, int]] = []

    def flush() -> None:
        if len(run) >= 2:
            found = {type(m): m for m, _, at in run if at != _ADMIT}
            builtins = [p for _, p, at in run if at != _ADMIT]
            stack = PolicyStack(
                found.get(Retry),
                found.get(ConcurrencyLimit),
                found.get(Timeout),
                [(m, p) for m, p, at in run if at == _ADMIT],
                builtins[0] if builtins else "",
            )
            fused.append((stack, builtins[0] if builtins else run[0][1]))
        else:
            fused.extend((m, p) for m, p, _ in run)
        run.clear()

    for layer, plugin in layers:
        at = _ADMIT if admits(layer) else _POSITIONS.get(type(layer))
        if at is None:
            flush()
            fused.append((layer, plugin))
            continue
        if run:
            last = run[-1][2]
            other_plugin = at != _ADMIT and any(p != plugin for _, p, a in run if a != _ADMIT)
            if at < last or (at == last and at != _ADMIT) or other_plugin:
                flush()
        run.append((layer, plugin, at))
    flush()
    return fused
