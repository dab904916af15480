"""The per-call hook stages, walked implementation by implementation.

pluggy cannot await, so the dispatcher resolves each per-call hook's implementations once,
in pluggy's call order, and walks them itself: an ``async def`` implementation is awaited,
and each implementation's failure is caught and attributed to its plugin by name.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pluggy

from ._context import CallContext
from ._errors import Deny, Reject, ToolError
from ._logging import log as _log
from ._logging import secret_values
from ._results import DispatchResult, ToolCall

INTERNAL_MESSAGE: Final = "an internal error occurred while handling this call"


@dataclass(frozen=True, slots=True)
class HookImpl:
    """One implementation of a per-call hook, resolved at start."""

    plugin: str
    #: Takes the spec's arguments in the spec's order, whatever the implementation asks for.
    invoke: Callable[..., Any]
    is_async: bool


def _adapter(function: Callable[..., Any], positions: tuple[int, ...]) -> Callable[..., Any]:
    """Call an implementation that takes a subset of the spec's arguments."""
    return lambda *values: function(*[values[i] for i in positions])


def resolve_impls(
    pm: pluggy.PluginManager, hook_name: str, spec_args: Sequence[str]
) -> tuple[HookImpl, ...]:
    """The implementations of ``hook_name`` in the order pluggy would call them."""
    caller = getattr(pm.hook, hook_name)
    impls = []
    for impl in reversed(caller.get_hookimpls()):
        argnames = tuple(impl.argnames)
        function = impl.function
        if argnames != tuple(spec_args):
            function = _adapter(function, tuple(spec_args.index(a) for a in argnames))
        impls.append(
            HookImpl(impl.plugin_name, function, inspect.iscoroutinefunction(impl.function))
        )
    return tuple(impls)


def plugin_failed(
    plugin: str,
    hook: str,
    call: ToolCall,
    exc: BaseException,
    redact: frozenset[str] = frozenset(),
) -> ToolError:
    """Log a plugin's failure in full (the call's secrets masked); the short error the model sees."""
    _log.error(
        "toolwire.plugin_failed",
        plugin=plugin,
        hook=hook,
        tool=call.name,
        call_id=call.call_id,
        exc_info=exc,
        secrets=secret_values(call.arguments, redact),
    )
    return ToolError(INTERNAL_MESSAGE, kind="internal_error", details=None)


def belongs_to_caller(exc: BaseException) -> bool:
    """Whether ``exc`` is the caller's to see: its own cancellation, or Ctrl-C in its own thread.

    Anything else a plugin or tool raises (``SystemExit``, a ``CancelledError`` of its own,
    ``KeyboardInterrupt`` inside an event loop's task) ends only the call it happened in.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop: running inline in the host's own thread
        return isinstance(exc, KeyboardInterrupt)
    return isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling() > 0


def _attributed(
    impl: HookImpl, hook: str, call: ToolCall, exc: BaseException, redact: frozenset[str]
) -> ToolError:
    """The error a hook's failure ends the call with; the caller's own cancellation goes on."""
    if belongs_to_caller(exc):
        raise exc
    return plugin_failed(impl.plugin, hook, call, exc, redact)


def _denied(reason: str) -> ToolError:
    return ToolError(reason, kind="permission_denied")


class CallHooks:
    """The per-call stages a dispatcher walks: permission, before, after, format, finished.

    Args:
        pm: The dispatcher's plugin manager, with every plugin registered.
        default_allow: The answer when no implementation votes on permission.
        permission_timeout: Seconds an ``async`` permission implementation may take.
        redact: The ``[logging] redact`` names: a failing hook's log masks those arguments.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        default_allow: bool,
        permission_timeout: float,
        redact: frozenset[str] = frozenset(),
    ) -> None:
        self.permission = resolve_impls(pm, "toolwire_check_permission", ("call", "context"))
        self.before = resolve_impls(pm, "toolwire_before_call", ("call", "context"))
        self.after = resolve_impls(pm, "toolwire_after_call", ("call", "result", "context"))
        self.format = resolve_impls(
            pm, "toolwire_format_result", ("call", "result", "provider", "context")
        )
        self.finished = resolve_impls(pm, "toolwire_call_finished", ("call", "result", "context"))
        self.default_allow = default_allow
        self.permission_timeout = permission_timeout
        self.redact = redact
        self.permission_is_async = any(impl.is_async for impl in self.permission)
        self.before_is_async = any(impl.is_async for impl in self.before)
        self.after_is_async = any(impl.is_async for impl in self.after)
        self.finished_is_async = any(impl.is_async for impl in self.finished)
        self.any_async = (
            self.permission_is_async
            or self.before_is_async
            or self.after_is_async
            or self.finished_is_async
        )

    # -- permission ------------------------------------------------------------------------

    def _decide(self, impl: HookImpl, vote: Any, call: ToolCall) -> bool | None:
        """A vote as allow (True), abstain (None); a deny raises."""
        if vote is None:
            return None
        if vote is True:
            return True
        if vote is False:
            raise _denied(f"permission denied for {call.name}")
        if isinstance(vote, Deny):
            raise _denied(vote.reason)
        _log.error(
            "toolwire.permission_vote_invalid",
            plugin=impl.plugin,
            vote_type=type(vote).__name__,
            tool=call.name,
        )
        raise _denied(f"permission denied for {call.name}")

    def _no_vote(self, allowed: bool, call: ToolCall) -> None:
        if not allowed and not self.default_allow:
            raise _denied(f"permission denied for {call.name}")

    def check_permission(self, call: ToolCall, context: CallContext) -> Awaitable[None] | None:
        """Ask every implementation; any deny (or failure, or timeout) wins over any allow.

        Like every stage here, it runs at once and returns ``None`` unless an implementation
        is ``async``; then it returns what the caller must await. Plain stages so cost no
        coroutine at all.
        """
        if self.permission_is_async:
            return self._check_permission_async(call, context)
        self._check_permission_plain(call, context)
        return None

    async def _check_permission_async(self, call: ToolCall, context: CallContext) -> None:
        allowed = False
        for impl in self.permission:
            try:
                vote = impl.invoke(call, context)
                if impl.is_async:
                    # In this task, not wait_for's own: a SystemExit or KeyboardInterrupt raised
                    # in a task of its own would escape the event loop instead of denying.
                    async with asyncio.timeout(self.permission_timeout):
                        vote = await vote
            except TimeoutError:
                _log.error("toolwire.permission_timeout", plugin=impl.plugin, tool=call.name)
                raise _denied(f"permission denied for {call.name}") from None
            except BaseException as exc:  # noqa: BLE001 - a failing permission hook denies (the caller's own goes on)
                _attributed(impl, "toolwire_check_permission", call, exc, self.redact)
                raise _denied(f"permission denied for {call.name}") from None
            allowed = bool(self._decide(impl, vote, call)) or allowed
        self._no_vote(allowed, call)

    def _check_permission_plain(self, call: ToolCall, context: CallContext) -> None:
        allowed = False
        for impl in self.permission:
            try:
                vote = impl.invoke(call, context)
            except BaseException as exc:  # noqa: BLE001 - a failing permission hook denies (the caller's own goes on)
                _attributed(impl, "toolwire_check_permission", call, exc, self.redact)
                raise _denied(f"permission denied for {call.name}") from None
            allowed = bool(self._decide(impl, vote, call)) or allowed
        self._no_vote(allowed, call)

    # -- before ----------------------------------------------------------------------------

    def run_before(self, call: ToolCall, context: CallContext) -> Awaitable[None] | None:
        """Run every before hook; ``Reject`` refuses the call, any other failure is internal."""
        if self.before_is_async:
            return self._run_before_async(call, context)
        self._run_before_plain(call, context)
        return None

    async def _run_before_async(self, call: ToolCall, context: CallContext) -> None:
        for impl in self.before:
            try:
                outcome = impl.invoke(call, context)
                if impl.is_async:
                    await outcome
            except Reject as exc:
                raise ToolError(exc.reason, kind="rejected") from None
            except BaseException as exc:  # noqa: BLE001 - attributed to the plugin, call ends (the caller's own goes on)
                raise _attributed(impl, "toolwire_before_call", call, exc, self.redact) from None

    def _run_before_plain(self, call: ToolCall, context: CallContext) -> None:
        for impl in self.before:
            try:
                impl.invoke(call, context)
            except Reject as exc:
                raise ToolError(exc.reason, kind="rejected") from None
            except BaseException as exc:  # noqa: BLE001 - attributed to the plugin, call ends (the caller's own goes on)
                raise _attributed(impl, "toolwire_before_call", call, exc, self.redact) from None

    # -- after -----------------------------------------------------------------------------

    def run_after(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> DispatchResult | Awaitable[DispatchResult]:
        """Let each after hook see (and maybe replace) the result."""
        if self.after_is_async:
            return self._run_after_async(call, result, context)
        return self._run_after_plain(call, result, context)

    async def _run_after_async(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> DispatchResult:
        for impl in self.after:
            try:
                replacement = impl.invoke(call, result, context)
                if impl.is_async:
                    replacement = await replacement
            except BaseException as exc:  # noqa: BLE001 - attributed to the plugin, call ends (the caller's own goes on)
                raise _attributed(impl, "toolwire_after_call", call, exc, self.redact) from None
            result = self._replacement(impl, call, result, replacement)
        return result

    def _run_after_plain(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> DispatchResult:
        for impl in self.after:
            try:
                replacement = impl.invoke(call, result, context)
            except BaseException as exc:  # noqa: BLE001 - attributed to the plugin, call ends (the caller's own goes on)
                raise _attributed(impl, "toolwire_after_call", call, exc, self.redact) from None
            result = self._replacement(impl, call, result, replacement)
        return result

    @staticmethod
    def _replacement(
        impl: HookImpl, call: ToolCall, result: DispatchResult, replacement: Any
    ) -> DispatchResult:
        if replacement is None:
            return result
        if not isinstance(replacement, DispatchResult) or replacement.call_id != result.call_id:
            raise plugin_failed(
                impl.plugin,
                "toolwire_after_call",
                call,
                TypeError("after hooks must return None or a DispatchResult for the same call_id"),
            )
        return replacement

    # -- format ----------------------------------------------------------------------------

    async def run_format(
        self, call: ToolCall, result: DispatchResult, provider: str, context: CallContext
    ) -> Any:
        """The first non-``None`` shape a plugin gives, or ``None`` for the built-in shape.

        Raises:
            ToolError: ``internal_error`` when an implementation fails (logged with its plugin).
        """
        for impl in self.format:
            try:
                shaped = impl.invoke(call, result, provider, context)
                if impl.is_async:
                    shaped = await shaped
            except BaseException as exc:  # noqa: BLE001 - attributed to the plugin, call ends (the caller's own goes on)
                raise _attributed(impl, "toolwire_format_result", call, exc, self.redact) from None
            if shaped is not None:
                return shaped
        return None

    # -- finished --------------------------------------------------------------------------

    def run_finished(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> Awaitable[None] | None:
        """Tell observers the call is over; their failures are logged and never change it."""
        if self.finished_is_async:
            return self._run_finished_async(call, result, context)
        self._run_finished_plain(call, result, context)
        return None

    async def _run_finished_async(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> None:
        for impl in self.finished:
            try:
                outcome = impl.invoke(call, result, context)
                if impl.is_async:
                    await outcome
            except BaseException as exc:  # noqa: BLE001 - an observer cannot change the outcome (the caller's own goes on)
                _attributed(impl, "toolwire_call_finished", call, exc, self.redact)

    def _run_finished_plain(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> None:
        for impl in self.finished:
            try:
                impl.invoke(call, result, context)
            except BaseException as exc:  # noqa: BLE001 - an observer cannot change the outcome (the caller's own goes on)
                _attributed(impl, "toolwire_call_finished", call, exc, self.redact)
