"""The per-call hook stages, walked implementation by implementation.

pluggy cannot await, so each per-call hook's implementations are resolved once, in pluggy's
call order, and walked here: one walk per stage, with a plain driver (no implementation is
``async``: the stage runs at once and costs no coroutine) and an async driver (an ``async
def`` implementation is awaited). What a stage makes of each answer, and of each failure, is
its ``Fold``; every failure is attributed to its plugin by name.

Which driver a stage runs is chosen once, when the plan is built: a stage nobody implements
is no walk at all, only its answer for no answer (``Fold.unanswered``), and a call reaches a
stage's driver straight from the pipeline, through no wrapper. A built-in implementation that
is known at start to do nothing for some calls (``idle_when``: the roles vote for a tool
without roles, the call log for a success below its level) is left out of their walks.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import pluggy

from ._errors import Deny, Reject, RequireApproval, ToolError
from ._logging import log as _log
from ._logging import secret_values
from ._values import CallContext, DispatchResult, ToolCall

INTERNAL_MESSAGE: Final = "an internal error occurred while handling this call"


@dataclass(frozen=True, slots=True)
class HookImpl:
    """One implementation of a per-call hook, resolved at start."""

    plugin: str
    #: Takes the hookspec's arguments in the hookspec's order, whatever the implementation asks for.
    invoke: Callable[..., Any]
    is_async: bool
    #: ``idle(fact)``: whether it answers ``None`` and does nothing for every call ``fact``
    #: describes (``idle_when``); ``None`` for an implementation that never says.
    idle: Callable[[Any], bool] | None = None


_F = TypeVar("_F", bound=Callable[..., Any])


def idle_when(test: Callable[[Any, Any], bool]) -> Callable[[_F], _F]:
    """Mark a built-in hook implementation (a method) that is known at start to do nothing
    for some calls: ``test(plugin, fact)`` says so for the calls ``fact`` describes (for
    ``toolwire_check_permission`` the tool's policy; for ``toolwire_call_finished`` whether the
    call succeeded). Such calls walk the stage without it (``Stage.without_idle``)."""

    def mark(function: _F) -> _F:
        function.__toolwire_idle__ = test  # type: ignore[attr-defined]
        return function

    return mark


def implementations(pm: pluggy.PluginManager, hook_name: str) -> tuple[HookImpl, ...]:
    """The implementations of ``hook_name`` in the order pluggy would call them.

    The argument names come from the hookspec; an implementation that asks for fewer gets
    an adapter that picks its own.
    """
    caller = getattr(pm.hook, hook_name)
    assert caller.spec is not None, hook_name
    spec_args = tuple(caller.spec.argnames)
    impls = []
    for impl in reversed(caller.get_hookimpls()):
        function = impl.function
        is_async = inspect.iscoroutinefunction(function)
        test = getattr(function, "__toolwire_idle__", None)
        idle = None if test is None else functools.partial(test, impl.plugin)
        if tuple(impl.argnames) != spec_args:
            function = _adapter(function, tuple(spec_args.index(a) for a in impl.argnames))
        impls.append(HookImpl(impl.plugin_name, function, is_async, idle))
    return tuple(impls)


def _adapter(function: Callable[..., Any], positions: tuple[int, ...]) -> Callable[..., Any]:
    return lambda *values: function(*[values[i] for i in positions])


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


def plugin_failed(
    plugin: str,
    where: str,
    call: ToolCall,
    exc: BaseException,
    redact: frozenset[str] = frozenset(),
) -> ToolError:
    """Log a plugin's failure in full (hook or middleware; the call's secrets masked) and make
    the error the model sees.

    Raises:
        BaseException: ``exc`` itself when it is the caller's own (see ``belongs_to_caller``).
    """
    if belongs_to_caller(exc):
        raise exc
    _log.error(
        "toolwire.plugin_failed",
        plugin=plugin,
        hook=where,
        tool=call.name,
        call_id=call.call_id,
        exc_info=exc,
        secrets=secret_values(call.arguments, redact),
    )
    return ToolError(INTERNAL_MESSAGE, kind="internal_error")


class Fold:
    """What one stage makes of its implementations' answers; subclassed once per stage.

    A walk starts with nothing accumulated (``None``), hands each answer other than ``None``
    to ``step`` (which may stop the walk) and each failure to ``failed`` (which raises to end
    the call, or returns to go on), and ends with ``end``. ``args`` are the hook's arguments;
    ``step`` may replace them for the implementations that follow (an after hook's
    replacement result). ``None`` is every stage's "no answer": it abstains from a vote,
    leaves a result as it is, lets the next format hook try.
    """

    hook: str = ""
    #: Argument names whose values are masked when a failure is logged (``[logging] redact``).
    redact: frozenset[str] = frozenset()

    def unanswered(self, *args: Any) -> Any:
        """The stage's answer when no implementation answers: ``end`` with nothing
        accumulated. It is the whole stage when nobody implements it."""
        return self.end(args, None)

    def step(
        self, impl: HookImpl, answer: Any, args: tuple[Any, ...], acc: Any
    ) -> tuple[tuple[Any, ...], Any, bool]:
        return args, acc, False

    def failed(self, impl: HookImpl, exc: BaseException, args: tuple[Any, ...]) -> None:
        raise plugin_failed(impl.plugin, self.hook, args[0], exc, self.redact) from None

    def end(self, args: tuple[Any, ...], acc: Any) -> Any:
        return None


class Stage:
    """One per-call hook: its implementations, resolved once, and its fold.

    ``run(*args)`` walks them at once and returns the stage's answer when none is ``async``;
    otherwise it returns an awaitable of that answer.

    Args:
        impls: The stage's implementations, in pluggy's call order (``implementations``).
        fold: What the stage makes of answers and failures (names the hook).
        timeout: Seconds an ``async`` implementation may take; past it, ``TimeoutError`` goes
            to the fold's ``failed``.
    """

    def __init__(self, impls: tuple[HookImpl, ...], fold: Fold, timeout: float | None = None):
        self.fold = fold
        self.impls = impls
        self.is_async = any(impl.is_async for impl in self.impls)
        self.timeout = timeout
        #: The fold's ``end``, or ``None`` when the stage's answer is always ``None`` (a before
        #: or finished stage): a plain walk then ends without the call.
        self.end = None if type(fold).end is Fold.end else fold.end
        #: ``run(*args)``: the stage's answer, or an awaitable of it. Chosen here, once.
        self.run: Callable[..., Any] = (
            self._walk_async
            if self.is_async
            else _plain_walk(self.impls, fold, self.end)
            if self.impls
            else fold.unanswered
            if self.end is not None
            else _nothing
        )

    def without_idle(self, fact: Any) -> Callable[..., Any]:
        """The driver for the calls ``fact`` describes: the stage without the implementations
        idle for them (``idle_when``), or the stage's own when none is."""
        kept = tuple(impl for impl in self.impls if impl.idle is None or not impl.idle(fact))
        return (
            self.run if len(kept) == len(self.impls) else Stage(kept, self.fold, self.timeout).run
        )

    async def _walk_async(self, *args: Any) -> Any:
        fold = self.fold
        acc = None
        for impl in self.impls:
            try:
                answer = impl.invoke(*args)
                if impl.is_async:
                    if self.timeout is None:
                        answer = await answer
                    else:
                        # In this task, not wait_for's own: a SystemExit raised in a task of
                        # its own would escape the event loop instead of ending this call.
                        async with asyncio.timeout(self.timeout):
                            answer = await answer
            except BaseException as exc:  # noqa: BLE001 - the fold decides; the caller's own goes on
                fold.failed(impl, exc, args)
                continue
            if answer is not None:
                args, acc, stop = fold.step(impl, answer, args, acc)
                if stop:
                    break
        return fold.end(args, acc)


def _plain_walk(
    impls: tuple[HookImpl, ...], fold: Fold, end: Callable[..., Any] | None
) -> Callable[..., Any]:
    """A stage's plain driver: a closure over what it walks, so a call looks nothing up.

    One implementation (the common stage: a single plugin, or one built-in) is called
    straight, with no loop around it.
    """
    step, failed = fold.step, fold.failed
    if len(impls) == 1:
        impl = impls[0]
        invoke = impl.invoke

        def walk_one(*args: Any) -> Any:
            acc = None
            try:
                answer = invoke(*args)
            except BaseException as exc:  # noqa: BLE001 - the fold decides; the caller's own goes on
                failed(impl, exc, args)
            else:
                if answer is not None:
                    args, acc, _ = step(impl, answer, args, None)
            return None if end is None else end(args, acc)

        return walk_one

    def walk(*args: Any) -> Any:
        acc = None
        for impl in impls:
            try:
                answer = impl.invoke(*args)
            except BaseException as exc:  # noqa: BLE001 - the fold decides; the caller's own goes on
                failed(impl, exc, args)
                continue
            if answer is not None:
                args, acc, stop = step(impl, answer, args, acc)
                if stop:
                    break
        return None if end is None else end(args, acc)

    return walk


def _nothing(*args: Any) -> None:
    """A stage nobody implements whose answer is always ``None``."""
    return None


def _denied(reason: str) -> ToolError:
    return ToolError(reason, kind="permission_denied")


class PermissionFold(Fold):
    """Votes: any deny wins; else any approval requirement; else any allow; a failure or a
    timeout denies; no vote -> the default.

    The walk ends with ``None`` (allowed) or the first ``RequireApproval`` vote.
    """

    hook = "toolwire_check_permission"

    def __init__(self, default_allow: bool) -> None:
        self.default_allow = default_allow

    def step(
        self, impl: HookImpl, answer: Any, args: tuple[Any, ...], acc: Any
    ) -> tuple[tuple[Any, ...], Any, bool]:
        # acc: no vote yet (None), then True (allowed) or the first RequireApproval.
        call: ToolCall = args[0]
        if answer is True:
            return args, acc or True, False
        if isinstance(answer, RequireApproval):
            # The first request's reason is kept; a later deny still wins (it raises).
            return args, acc if isinstance(acc, RequireApproval) else answer, False
        if answer is False:
            raise _denied(f"permission denied for {call.name}")
        if isinstance(answer, Deny):
            raise _denied(str(answer.reason) or f"permission denied for {call.name}")
        _log.error(
            "toolwire.permission_vote_invalid",
            plugin=impl.plugin,
            vote_type=type(answer).__name__,
            tool=call.name,
        )
        raise _denied(f"permission denied for {call.name}")

    def failed(self, impl: HookImpl, exc: BaseException, args: tuple[Any, ...]) -> None:
        call: ToolCall = args[0]
        if isinstance(exc, TimeoutError):
            _log.error("toolwire.permission_timeout", plugin=impl.plugin, tool=call.name)
        else:
            plugin_failed(impl.plugin, self.hook, call, exc, self.redact)
        raise _denied(f"permission denied for {call.name}") from None

    def end(self, args: tuple[Any, ...], acc: Any) -> RequireApproval | None:
        if acc is None:  # nobody voted
            if not self.default_allow:
                raise _denied(f"permission denied for {args[0].name}")
            return None
        return None if acc is True else acc


class BeforeFold(Fold):
    """``Reject`` refuses the call; any other failure is the plugin's (``internal_error``)."""

    hook = "toolwire_before_call"

    def failed(self, impl: HookImpl, exc: BaseException, args: tuple[Any, ...]) -> None:
        if isinstance(exc, Reject):
            raise ToolError(exc.reason, kind="rejected") from None
        super().failed(impl, exc, args)


class AfterFold(Fold):
    """Each implementation sees the result so far and may replace it."""

    hook = "toolwire_after_call"

    def step(
        self, impl: HookImpl, answer: Any, args: tuple[Any, ...], acc: Any
    ) -> tuple[tuple[Any, ...], Any, bool]:
        call, result, context = args
        if not isinstance(answer, DispatchResult) or answer.call_id != result.call_id:
            raise plugin_failed(
                impl.plugin,
                self.hook,
                call,
                TypeError("after hooks must return None or a DispatchResult for the same call_id"),
                self.redact,
            )
        return (call, answer, context), acc, False

    def end(self, args: tuple[Any, ...], acc: Any) -> DispatchResult:
        result: DispatchResult = args[1]
        return result

    def unanswered(self, *args: Any) -> DispatchResult:
        result: DispatchResult = args[1]
        return result


class FormatFold(Fold):
    """The first implementation that answers shapes the item; ``None`` lets the next one try."""

    hook = "toolwire_format_result"

    def step(
        self, impl: HookImpl, answer: Any, args: tuple[Any, ...], acc: Any
    ) -> tuple[tuple[Any, ...], Any, bool]:
        return args, answer, True

    def end(self, args: tuple[Any, ...], acc: Any) -> Any:
        return acc


class FinishedFold(Fold):
    """Observers: a failure is logged with its plugin and never changes the outcome."""

    hook = "toolwire_call_finished"

    def failed(self, impl: HookImpl, exc: BaseException, args: tuple[Any, ...]) -> None:
        plugin_failed(impl.plugin, self.hook, args[0], exc, self.redact)


class CallHooks:
    """The per-call stages a dispatcher walks: permission, before, after, format, finished.

    Each stage's entry (``check_permission``, ``run_before``...) is its driver itself, chosen
    once: it returns the stage's answer at once when no implementation is ``async``, else an
    awaitable of it, which the pipeline awaits.

    Args:
        pm: The dispatcher's plugin manager, with every plugin registered.
        default_allow: The answer when no implementation votes on permission.
        permission_timeout: Seconds an ``async`` permission implementation may take.
        redact: Argument names whose values are masked when a hook's failure is logged.
    """

    #: Every implementation votes; raises ``ToolError`` (``permission_denied``) on a deny.
    #: ``None`` when the call may run, the ``RequireApproval`` vote when a person must decide
    #: first, or (with an ``async`` implementation) an awaitable of either.
    check_permission: Callable[
        [ToolCall, CallContext],
        RequireApproval | Awaitable[RequireApproval | None] | None,
    ]
    #: Every before hook; ``Reject`` ends the call with ``rejected``.
    run_before: Callable[[ToolCall, CallContext], Awaitable[None] | None]
    #: The result, as the after hooks leave it.
    run_after: Callable[
        [ToolCall, DispatchResult, CallContext], DispatchResult | Awaitable[DispatchResult]
    ]
    #: The first shape a plugin gives (``None`` for the built-in one), or an awaitable of it.
    run_format: Callable[[ToolCall, DispatchResult, str, CallContext], Any]
    #: Tell observers the call is over.
    run_finished: Callable[[ToolCall, DispatchResult, CallContext], Awaitable[None] | None]
    #: ``run_finished`` for a call that succeeded: without the observers idle for a success.
    run_finished_ok: Callable[[ToolCall, DispatchResult, CallContext], Awaitable[None] | None]

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        default_allow: bool,
        permission_timeout: float,
        redact: frozenset[str] = frozenset(),
    ) -> None:
        folds: list[Fold] = [
            PermissionFold(default_allow),
            BeforeFold(),
            AfterFold(),
            FormatFold(),
            FinishedFold(),
        ]
        for fold in folds:
            fold.redact = redact
        self.permission, self.before, self.after, self.format, self.finished = (
            Stage(implementations(pm, fold.hook), fold, permission_timeout if index == 0 else None)
            for index, fold in enumerate(folds)
        )
        self.any_async = any(
            stage.is_async for stage in (self.permission, self.before, self.after, self.finished)
        )
        self.check_permission = self.permission.run
        self.run_before = self.before.run
        self.run_after = self.after.run
        self.run_format = self.format.run
        self.run_finished = self.finished.run
        self.run_finished_ok = self.finished.without_idle(True)
