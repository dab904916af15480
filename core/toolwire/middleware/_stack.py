"""The built-in layers that sit next to each other, run as one layer.

``Retry``, ``ConcurrencyLimit`` and ``Timeout`` behave exactly as they do apart; where a route
has two or more of them side by side (nothing of another plugin's between them), one
coroutine does their work, instead of one each: the first attempt inline, and only after a
transient failure the layers apart again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .._values import CallContext, ToolCall
from ..types import CallNext
from .concurrency import ConcurrencyLimit, _Slots
from .retry import Retry, transient
from .timeout import Timeout


class PolicyStack:
    """``Retry`` (optional) around ``ConcurrencyLimit`` (optional) around ``Timeout`` (optional)."""

    __slots__ = ("limit", "order", "retry", "slots", "timeout")

    def __init__(
        self, retry: Retry | None, limit: ConcurrencyLimit | None, timeout: Timeout | None
    ) -> None:
        self.retry, self.limit, self.timeout = retry, limit, timeout
        self.order = min(m.order for m in (retry, limit, timeout) if m is not None)
        self.slots: _Slots | None = None  # the route's tool's, from its first call (one tool)

    async def __call__(self, call: ToolCall, context: CallContext, call_next: CallNext) -> Any:
        limit, timeout = self.limit, self.timeout
        try:
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

    def _apart(self, call_next: CallNext) -> CallNext:
        from .._middleware import compose

        return compose([m for m in (self.limit, self.timeout) if m is not None], call_next)


def fuse(layers: Sequence[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """``layers`` (ordered, with their plugins) with each run of adjacent built-in policy
    layers of one plugin replaced by one ``PolicyStack``."""
    kinds = (Retry, ConcurrencyLimit, Timeout)
    fused: list[tuple[Any, str]] = []
    run: list[tuple[Any, str]] = []

    def flush() -> None:
        positions = [kinds.index(type(m)) for m, _ in run]
        if (
            len(run) >= 2
            and len({plugin for _, plugin in run}) == 1
            and positions == sorted(positions)  # outer to inner as the stack runs them
        ):
            found = {type(m): m for m, _ in run}
            fused.append(
                (
                    PolicyStack(found.get(Retry), found.get(ConcurrencyLimit), found.get(Timeout)),
                    run[0][1],
                )
            )
        else:
            fused.extend(run)
        run.clear()

    for layer, plugin in layers:
        if type(layer) in kinds and not any(type(m) is type(layer) for m, _ in run):
            run.append((layer, plugin))
        else:
            flush()
            if type(layer) in kinds:
                run.append((layer, plugin))
            else:
                fused.append((layer, plugin))
    flush()
    return fused
