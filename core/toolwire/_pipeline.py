"""One call, stage by stage, top to bottom, through the output the model reads.

Every call goes through the same stages, in this order; each can end the call with a
``ToolError``, and nothing after it runs then:

1. resolve      the name must be an enabled tool
2. parse        raw arguments become a dict, within size and nesting caps
3. validate     against the tool's schema, then converted to the declared types
4. permission   every ``toolwire_check_permission`` votes; any deny wins, then any approval
                requirement: such a call is recorded and waits for a person (``_approvals``)
5. before       ``toolwire_before_call`` hooks; one may reject the call
6. execute      the tool's route: its middleware, in their declared order, then the function
7. after        ``toolwire_after_call`` hooks may replace the result
8. serialize    the result becomes the text the model reads (deterministic JSON, output budget)
9. format       with a provider: the provider's item (``toolwire_format_result`` may shape it)
10. finished    ``toolwire_call_finished`` observers see the outcome the model gets

``run_call`` is the one path; a call a person approved takes it again from the start, with
permission skipped (decided once, by the person). ``run_inline`` drives the same coroutine to
its end in the caller's thread, without an event loop, for a plain function whose whole path
is plain: no stage then suspends.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import Awaitable, Coroutine, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._arguments import parse_arguments
from ._content import as_content, check_parts
from ._errors import RequireApproval, ToolError
from ._hookwalk import INTERNAL_MESSAGE, belongs_to_caller
from ._logging import log as _log
from ._logging import secret_values
from ._plan import Plan, Route
from ._policy import BUILTIN_DEFAULTS, CALLERS, DEFAULT_CALLERS
from ._serialize import error_text, over_budget, to_json, to_text, truncate, utf8_safe
from ._values import CallContext, DispatchResult, ToolCall
from .providers import Provider
from .types import ProgressCallback

if TYPE_CHECKING:
    from ._approvals._records import Approval


#: The ``state`` of a call whose host gave none: read-only.
NO_STATE: Final[Mapping[str, Any]] = MappingProxyType({})


class Finished(NamedTuple):
    """One finished call: the call as the hooks saw it, its result, its context, and (with a
    provider) the item the model reads."""

    call: ToolCall
    result: DispatchResult
    context: CallContext
    item: Any = None


#: ``Finished(...)`` runs a generated ``__new__`` that costs more than the tuple itself.
_new_finished: Final = tuple.__new__


async def run_call(
    plan: Plan,
    call: ToolCall,
    role: str | None,
    state: Mapping[str, Any] | None,
    *,
    provider: Provider | None = None,
    progress: ProgressCallback | None = None,
    inline: bool = False,
    turn: Any = None,
    approved: Approval | None = None,
    context: CallContext | None = None,
) -> Finished:
    """Run one call through every stage. Never raises but for the caller's own cancellation.

    ``turn`` is what a held response's gated calls are recorded with (opaque here).
    ``approved`` is the record of a call a person approved: its stored arguments run without
    a permission walk, and its result carries the record. ``context`` is a context made by
    the caller, for the same call id, role and state, that it keeps to learn how far the call
    got even when it is cancelled (``attempt``: whether the function started).
    """
    started = time.perf_counter()
    state = NO_STATE if state is None else state
    if context is None:
        context = CallContext(call.call_id, None, role, state, progress=progress)
    if approved is not None:
        context.approval_id = approved.id
    hooks = plan.hooks
    try:
        route = resolve(plan, call, context)
        call = parse(plan, call)
        validate(route, call, context)
        if approved is None:
            # A hook stage returns something to await only when one of its hooks is async.
            asked = route.check_permission(call, context)
            if asked is not None and not isinstance(asked, RequireApproval):
                asked = await asked
            if asked is not None or route.approval:
                gate = plan.approvals
                raise (await gate.hold(route, call, context, asked, turn))
        if (pending := hooks.run_before(call, context)) is not None:
            await pending
        value = (
            execute_inline(route, call, context) if inline else await execute(route, call, context)
        )
        result = hooks.run_after(call, _ran(call, value, context, approved), context)
        if not isinstance(result, DispatchResult):
            result = await result
        serialize(route, result)
    except ToolError as error:
        call = _named(call)
        result = _failed(call, error, context)
    except BaseException as exc:  # N calls in, N results out, whatever failed
        if belongs_to_caller(exc):
            context.progress = None  # a report from a function left running is too late
            _cancelled_by_caller(plan, _named(call), context, started)
            raise
        result = _failed(call, _internal(call, exc, plan.redact), context)
    context.progress = None  # from here on the result is out: a later report is too late
    if approved is not None:
        result.approval = approved
    item = None
    if provider is not None:
        item, result = await format_item(plan, provider, call, result, context)
    if (pending := finish(plan, call, result, context, started)) is not None:
        await pending
    return _new_finished(Finished, (call, result, context, item))


def run_inline(coroutine: Coroutine[Any, Any, Finished]) -> Finished:
    """Drive ``run_call(..., inline=True)`` to its end without an event loop.

    Only for a tool in ``Plan.inline`` (a plain function, no middleware, no ``async`` hook):
    nothing on that path suspends, so the first ``send`` finishes it.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        finished: Finished = done.value
        return finished
    coroutine.close()
    raise RuntimeError("an inline call suspended; it must only be taken on a plain path")


async def refuse(
    plan: Plan,
    call: ToolCall,
    role: str | None,
    state: Mapping[str, Any] | None,
    error: ToolError,
    provider: Provider | None = None,
) -> Finished:
    """Answer a call that will not run (past the batch limit, cut off); observers see it too."""
    started = time.perf_counter()
    call = _named(call)
    context = CallContext(call.call_id, None, role, NO_STATE if state is None else state)
    context.caller = call.caller
    result = _failed(call, error, context)
    item = None
    if provider is not None:
        item, result = await format_item(plan, provider, call, result, context)
    if (pending := finish(plan, call, result, context, started)) is not None:
        await pending
    return _new_finished(Finished, (call, result, context, item))


# 1. resolve
def resolve(plan: Plan, call: ToolCall, context: CallContext) -> Route:
    name = call.name
    route = plan.routes.get(name) if isinstance(name, str) else None
    if route is None:
        raise _unknown_tool(plan, name, context.role)
    context.tool = route.tool
    context.policy = route.policy
    context.plugin = route.plugin
    context.caller = call.caller
    role = context.role
    if role is not None and (type(role) is not str or role not in plan.known_roles):
        plan.note_role(role)  # an unknown role, or one that is no text (a host's bug)
    if route.policy.allowed_callers is not None or call.caller not in (None, "direct"):
        _check_caller(route, call)
    return route


# 2. parse
def parse(plan: Plan, call: ToolCall) -> ToolCall:
    limits = plan.limits
    arguments = parse_arguments(
        call.arguments, max_bytes=limits.max_bytes, max_depth=limits.max_depth
    )
    return ToolCall(call.name, arguments, call.call_id, call.caller)


# 3. validate (and convert into the declared types)
def validate(route: Route, call: ToolCall, context: CallContext) -> None:
    arguments = route.validator.validate(call.arguments)  # type: ignore[arg-type]  # parsed
    call.arguments = arguments
    context.arguments = route.validator.keyword_arguments(arguments, context)


# 4. permission and 5. before are walked by CallHooks (_hookwalk).


# 6. execute
async def execute(route: Route, call: ToolCall, context: CallContext) -> Any:
    try:
        return await route.handler(call, context)
    except ToolError:
        raise
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the caller's own cancellation: always theirs to see
        raise ToolError(f"{call.name} was cancelled", kind="cancelled") from None
    except BaseException as exc:  # noqa: BLE001 - a tool or middleware must never take the host down
        raise route.failure(call, exc) from None


def execute_inline(route: Route, call: ToolCall, context: CallContext) -> Any:
    context.attempt += 1
    try:
        return route.tool.function(**context.arguments)
    except ToolError:
        raise
    except KeyboardInterrupt:
        raise  # the host's own Ctrl-C, in the host's own thread
    except asyncio.CancelledError:
        # No caller's task to cancel here: the tool's own, answered as on a loop.
        raise ToolError(f"{call.name} was cancelled", kind="cancelled") from None
    except BaseException as exc:  # noqa: BLE001 - a tool must never take the host down
        raise route.failure(call, exc) from None


# 7. after is walked by CallHooks.


# 8. serialize
def serialize(route: Route, result: DispatchResult) -> None:
    if not result.success:
        result.output = error_text(result.error) if result.error is not None else ""
        return
    value, tool = result.result, route.tool
    as_is = type(value) is dict and tool.dicts_as_json  # the common result: its JSON, at once
    content = None if as_is else as_content(value)  # a part, or a list of parts: one Content
    if content is not None:
        check_parts(content, route.policy.max_part_bytes or BUILTIN_DEFAULTS["max_part_bytes"])
        result.result = value = content
    try:
        if as_is:
            text = utf8_safe(to_json(value))  # what the two ways below make of such a dict
        elif content is not None or tool.output_schema is None:
            text = to_text(value)
        else:  # written in the schema's shape and checked against it: the promise kept
            text = tool.result_json(value)
            text = utf8_safe(json.loads(text) if text[:1] == '"' else text)
    except ToolError as error:
        _log.warning(
            "toolwire.output_error",
            tool=result.name,
            call_id=result.call_id,
            result_type=type(result.result).__qualname__,
            reason=error.message,
        )
        raise
    result.output = text if len(text) <= route.max_output_chars else _cut(route, text)


def _cut(route: Route, text: str) -> str:
    """Text over the output budget, cut to it; a structured result is refused instead."""
    if route.tool.output_schema is not None:
        # A structured result cut short would break what its schema promises: all or nothing.
        raise over_budget(len(text), route.max_output_chars)
    return truncate(text, route.max_output_chars)


# 9. format
async def format_item(
    plan: Plan, provider: Provider, call: ToolCall, result: DispatchResult, context: CallContext
) -> tuple[Any, DispatchResult]:
    """The provider's item: a plugin's shape if one gives it, else the built-in one.

    A format hook that fails ends the call with ``internal_error``, and that is the outcome
    the model reads, and the observers see.
    """
    try:
        shaped = plan.hooks.run_format(call, result, provider.name, context)
        if plan.hooks.format.is_async:
            shaped = await shaped
    except ToolError as error:  # a format hook failed (logged with its plugin)
        approval = result.approval
        result = _failed(call, error, context)
        result.approval = approval
        shaped = None
    return (shaped if shaped is not None else provider.format_result(call, result)), result


# 10. finished
def finish(
    plan: Plan, call: ToolCall, result: DispatchResult, context: CallContext, started: float
) -> Awaitable[None] | None:
    """Observers see the outcome; returns what to await when one of them is ``async``."""
    result.elapsed_ms = (time.perf_counter() - started) * 1000.0
    hooks = plan.hooks
    return (hooks.run_finished_ok if result.success else hooks.run_finished)(call, result, context)


# -- helpers ----------------------------------------------------------------------------------


def _cancelled_by_caller(plan: Plan, call: ToolCall, context: CallContext, started: float) -> None:
    """Observers see a call the caller cancelled too (audit, traces): ``cancelled``.

    The caller's cancellation goes on at once; ``async`` observers run in a task of their own.
    """
    error = ToolError("the caller cancelled this call", kind="cancelled")
    result = _failed(call, error, context)
    result.elapsed_ms = (time.perf_counter() - started) * 1000.0
    pending = plan.hooks.run_finished(call, result, context)
    if pending is not None:
        task = asyncio.ensure_future(pending)
        plan.observers.add(task)
        task.add_done_callback(plan.observers.discard)


def _ran(
    call: ToolCall, value: Any, context: CallContext, approved: Approval | None
) -> DispatchResult:
    # After hooks see the approval that let the call run (an audit record names it).
    return DispatchResult(True, call.call_id, call.name, value, None, 0.0, context.attempt,
                          "", approved)  # fmt: skip


def _failed(call: ToolCall, error: ToolError, context: CallContext) -> DispatchResult:
    return DispatchResult(
        False,
        call.call_id,
        call.name if isinstance(call.name, str) else "",
        None,
        error,
        0.0,
        context.attempt,
        error_text(error),
        getattr(error, "approval", None),  # a call that waits for (or waited for) a person
    )


def _named(call: ToolCall) -> ToolCall:
    """The call, its name a string for the hooks that see it (a host may pass ``None``)."""
    if isinstance(call.name, str):
        return call
    return ToolCall("", call.arguments, call.call_id)


def _internal(call: ToolCall, exc: BaseException, redact: frozenset[str]) -> ToolError:
    """A failure no stage caught (a converter, a result's own serializer...): logged in full,
    the call's secrets masked."""
    _log.error(
        "toolwire.call_failed",
        tool=call.name,
        call_id=call.call_id,
        exc_info=exc,
        secrets=secret_values(call.arguments, redact),
    )
    return ToolError(INTERNAL_MESSAGE, kind="internal_error")


def _check_caller(route: Route, call: ToolCall) -> None:
    """A call from a caller the tool does not allow ends ``permission_denied`` (fail closed:
    a caller toolwire does not know is allowed by no tool)."""
    allowed = route.policy.allowed_callers or DEFAULT_CALLERS
    caller = call.caller or "direct"
    if caller not in allowed:
        shown = caller if caller in CALLERS else "unknown"
        raise ToolError(
            f"{call.name} may not be called by {shown!r}; it allows {', '.join(allowed)}",
            kind="permission_denied",
            details={"caller": shown, "allowed_callers": list(allowed)},
        )


def _unknown_tool(plan: Plan, name: Any, role: str | None) -> ToolError:
    """``unknown_tool``, with the closest names among the tools ``role`` may call only: a
    hint never names a tool the role may not call."""
    shown = name[:64] if isinstance(name, str) else ""
    close: list[str] = []
    if shown:
        callable_names = [n for n in plan.names if plan.may_call(plan.routes[n], role)]
        close = difflib.get_close_matches(shown, callable_names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ToolError(
        f"no tool named {shown!r}{hint}" if shown else "the call names no tool",
        kind="unknown_tool",
        details={"closest": close} if close else None,
    )
