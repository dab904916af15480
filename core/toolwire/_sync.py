"""The dispatcher's entry points for hosts without an event loop: ``dispatch_sync``,
``dispatch_many_sync``, ``process_response_sync``.

A part of ``Dispatcher`` (it inherits them). A plain function with nothing ``async`` on its
path runs right in the caller's thread (``_pipeline.run_inline``); everything else runs on the
dispatcher's own loop (``_loop.OwnedLoop``), never on a running loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from ._batch import id_for, listed
from ._loop import running_loop
from ._pipeline import run_call, run_inline
from ._values import DispatchResult, ToolCall

if TYPE_CHECKING:
    from ._loop import OwnedLoop
    from ._plan import Plan
    from .types import ProgressCallback


class SyncEntryPoints:
    """The sync twins of ``dispatch``, ``dispatch_many`` and ``process_response``."""

    _loop: OwnedLoop

    # The dispatcher's own, which these twins run:
    _ready: Callable[[], Plan]
    _new_id: Callable[[], str]
    dispatch: Callable[..., Coroutine[Any, Any, DispatchResult]]
    dispatch_many: Callable[..., Coroutine[Any, Any, list[DispatchResult]]]
    process_response: Callable[..., Coroutine[Any, Any, list[Any]]]

    def dispatch_sync(
        self,
        name: str,
        arguments: Any = None,
        *,
        call_id: str | None = None,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> DispatchResult:
        """``dispatch`` for hosts without an event loop.

        A plain function with no middleware and no ``async`` hook on its path runs right in
        the caller's thread, when no event loop runs there. Every other call runs on the
        dispatcher's own loop, never on a running loop's thread, in a copy of the caller's
        context.
        """
        plan = self._ready()
        if isinstance(name, str) and name in plan.inline and running_loop() is None:
            new_id = self._new_id() if call_id is None else id_for(call_id, self._new_id)
            call = ToolCall(name, arguments, new_id)
            coroutine = run_call(plan, call, role, state, progress=progress, inline=True)
            # In a copy of the caller's context, as on a loop: what the tool sets stays its own.
            return copy_context().run(run_inline, coroutine).result
        return self._loop.run(
            self.dispatch(
                name, arguments, call_id=call_id, role=role, state=state, progress=progress
            )
        )

    def dispatch_many_sync(
        self,
        calls: Iterable[ToolCall | Mapping[str, Any]],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """``dispatch_many`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.dispatch_many(listed(calls), role=role, state=state))

    def process_response_sync(
        self,
        response: Any,
        provider: str | None = None,
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """``process_response`` for hosts without an event loop (on the dispatcher's own loop)."""
        return self._loop.run(self.process_response(response, provider, role=role, state=state))
