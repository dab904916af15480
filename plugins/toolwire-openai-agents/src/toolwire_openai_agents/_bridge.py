"""The calls of one ``function_tools`` list: dispatch, the approvals toolwire holds, the SDK's
decisions on them.

toolwire decides; the SDK asks and answers. A tool toolwire gates by policy
(``dispatcher.policy(name).approval``) gets a ``needs_approval`` that dispatches the call: toolwire
then stores it for a person and runs nothing, and the SDK interrupts the run on it. A call the SDK
later runs (``RunState.approve``) is run by ``dispatcher.approve``, exactly the stored arguments,
once; a call the SDK rejected (``RunState.reject``) is rejected in toolwire the next time the run
lists its tools. Every other call is one ``dispatch``, in the SDK's task for that call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

import toolwire
from agents import AgentBase, RunContextWrapper, ToolApprovalItem
from agents.tool_context import ToolContext
from openai.types.responses import ResponseFunctionToolCall

from ._answer import Hold, ToolOutput, answer

#: ``decided_by`` of an approval decided through the SDK's ``RunState``, which does not say who.
DECIDED_BY: Final = "openai-agents"

#: A role, or how to read the role from the run's context object.
RoleSource = str | Callable[[Any], str | None] | None
#: How to make toolwire's state from the run's context object.
StateSource = Callable[[Any], Mapping[str, Any] | None] | None

#: Answers kept for the SDK's invocations to come; past this, the oldest are let go.
_ANSWERED_KEPT: Final = 1024

#: Statuses of a record whose call a person approved in toolwire (ran, runs, or will run).
_RAN: Final = frozenset({"approved", "running", "executed"})

#: A held call's record, under its tool and call id.
Held = tuple[tuple[str, str], toolwire.Approval]

_log = toolwire.get_logger("toolwire.openai_agents")


class Bridge:
    """What the tools of one ``function_tools`` call share.

    Args:
        dispatcher: The dispatcher every call goes through.
        role: The role calls are made under, or a function of the run's context giving it.
        state: A function of the run's context giving toolwire's state; by default the
            context itself, which must then be a mapping (or ``None``).
    """

    def __init__(self, dispatcher: toolwire.Dispatcher, role: RoleSource, state: StateSource):
        self.dispatcher = dispatcher
        self._role = role
        self._state = state
        # Calls toolwire holds for a person, by (tool, call id), until the SDK runs or rejects them.
        self._held: dict[tuple[str, str], toolwire.Approval] = {}
        # Calls of gated tools that ended while the SDK asked (invalid arguments, denied...):
        # their result, for the SDK's invocation that follows, so nothing is dispatched twice.
        self._answered: dict[tuple[str, str], toolwire.DispatchResult] = {}
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        #: The tools toolwire gates by policy (``needs_approval`` asks toolwire).
        self.gated: set[str] = set()
        # Per run (by id, while it lives): the store's pending records of the gated tools when
        # the run first listed its tools, for a run interrupted in another process.
        self._runs: dict[int, tuple[weakref.ref[RunContextWrapper[Any]], dict[str, Held]]] = {}

    @property
    def role_varies(self) -> bool:
        """Whether the role is read from each run's context."""
        return callable(self._role)

    def role_of(self, context: Any) -> str | None:
        """The role for a run whose context object is ``context``.

        Raises:
            TypeError: the role function gave something other than a string or ``None``.
        """
        if not callable(self._role):
            return self._role
        role = self._role(context)
        if role is not None and not isinstance(role, str):
            raise TypeError(f"the role function of function_tools returned {role!r}, not a str")
        return role

    def state_of(self, context: Any) -> Mapping[str, Any] | None:
        """toolwire's state for a run whose context object is ``context``.

        Raises:
            TypeError: the context (or what the state function made of it) is not a mapping.
        """
        state = context if self._state is None else self._state(context)
        if state is None or isinstance(state, Mapping):
            return state
        if self._state is None:
            raise TypeError(
                f"the run's context is a {type(context).__name__}, not a mapping, so it cannot "
                "be toolwire's state for the call: pass state=lambda context: {...} to "
                "function_tools to say what the state holds, or run with a dict as the context"
            )
        raise TypeError(f"the state function of function_tools returned {state!r}, not a mapping")

    def may_see(self, name: str, context: Any) -> bool:
        """Whether the role of a run with this context may call the tool ``name``."""
        return self.dispatcher.find_tool(name, self.role_of(context)) is not None

    async def ask(
        self, name: str, run: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str
    ) -> bool:
        """``needs_approval`` of a tool toolwire gates: dispatch the call, which toolwire holds
        for a person (``True``: the SDK interrupts the run) or ends without running it."""
        context = run.context
        result = await self.dispatcher.dispatch(
            name,
            arguments,
            call_id=call_id,
            role=self.role_of(context),
            state=self.state_of(context),
        )
        outcome = answer(result)
        if isinstance(outcome, Hold):
            self._held[(name, call_id)] = outcome.approval
            return True
        self._answered[(name, call_id)] = result
        if len(self._answered) > _ANSWERED_KEPT:
            # One the SDK never invoked (its own input guardrail refused the call): let it go.
            self._answered.pop(next(iter(self._answered)))
        return False

    async def invoke(
        self, name: str, ctx: ToolContext[Any], arguments: str, *, gated: bool, sequential: bool
    ) -> ToolOutput:
        """``on_invoke_tool``: the call's one pass through toolwire, as the model reads it."""
        call_id = ctx.tool_call_id
        answered = self._answered.pop((name, call_id), None)
        if answered is not None:
            return _output(answer(answered))
        context = ctx.context
        state = self.state_of(context)
        held = self._held.pop((name, call_id), None)
        if held is not None and digest(held.arguments) != digest(arguments):
            # The SDK's state holds other arguments than the record a person was shown by
            # toolwire (a saved RunState edited): what the SDK approved is not what toolwire
            # holds, so nothing runs; the record stays pending for a person to decide.
            return _changed(held, name, call_id)
        if held is None and gated:
            held = await self._stored(name, call_id, arguments)
        if sequential:
            async with self._lock(name):
                result = await self._run(name, call_id, arguments, context, state, held)
        else:
            result = await self._run(name, call_id, arguments, context, state, held)
        return _output(answer(result))

    async def _run(
        self,
        name: str,
        call_id: str,
        arguments: str,
        context: Any,
        state: Mapping[str, Any] | None,
        held: toolwire.Approval | None,
    ) -> toolwire.DispatchResult:
        if held is not None:
            # The SDK invokes a call it interrupted on only once a person approved it there.
            return await self.dispatcher.approve(held.id, by=DECIDED_BY, state=state)
        return await self.dispatcher.dispatch(
            name, arguments, call_id=call_id, role=self.role_of(context), state=state
        )

    async def settle(self, run: RunContextWrapper[Any], agent: AgentBase[Any]) -> None:
        """Reject in toolwire the held calls this run's SDK state rejected (``RunState.reject``):
        the SDK answers those itself and never invokes them. A call toolwire's record shows
        approved first (``dispatcher.approve`` ran it) is approved in the SDK's state instead,
        so the model reads the stored result: a decision is made once, on either side.

        Checked each time the run lists its tools: the calls held here, and the store's pending
        records of these tools as they were when the run first listed them (a run interrupted
        in another process and resumed in this one).
        """
        stored = await self._stored_for(run)
        now = time.time()
        for (name, call_id), approval in [*self._held.items(), *stored.values()]:
            if approval.expires_at <= now:
                self._held.pop((name, call_id), None)  # toolwire ends it; nothing to carry over
                stored.pop(approval.id, None)
                continue
            if run.is_tool_approved(name, call_id) is not False:
                continue
            self._held.pop((name, call_id), None)
            stored.pop(approval.id, None)
            message = run.get_rejection_message(name, call_id)
            try:
                told = await self.dispatcher.reject(approval.id, by=DECIDED_BY, message=message)
            except toolwire.ApprovalError as exc:
                stored[approval.id] = ((name, call_id), approval)  # tried again next time
                _log.warning(
                    "openai_agents.reject_failed",
                    approval_id=approval.id,
                    tool=name,
                    error=str(exc),
                )
                continue
            if told.approval is not None and told.approval.status in _RAN:
                _approve_in_sdk(run, agent, name, call_id, told.approval)

    async def _stored_for(self, run: RunContextWrapper[Any]) -> dict[str, Held]:
        key = id(run)
        seen = self._runs.get(key)
        if seen is not None and seen[0]() is run:
            return seen[1]
        try:
            pending = await self.dispatcher.approvals("pending")
        except toolwire.ApprovalError as exc:
            _log.warning("openai_agents.store_failed", error=str(exc))
            pending = []
        stored = {
            a.id: ((a.tool, a.call_id), a)
            for a in pending
            if a.tool in self.gated and self._held.get((a.tool, a.call_id)) is None
        }
        self._runs[key] = (weakref.ref(run, lambda _: self._runs.pop(key, None)), stored)
        return stored

    async def _stored(self, name: str, call_id: str, arguments: str) -> toolwire.Approval | None:
        """The record toolwire holds for a call of a run resumed where it was not interrupted:
        this tool, this call id, these arguments; ``None`` when there is not exactly one."""
        return find_approval(await self.dispatcher.approvals(), name, call_id, arguments)

    def _lock(self, name: str) -> asyncio.Lock:
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        lock = locks.get(name)
        if lock is None:
            lock = locks[name] = asyncio.Lock()
        return lock


def find_approval(
    records: list[toolwire.Approval], name: str, call_id: str, arguments: str | None
) -> toolwire.Approval | None:
    """The one record of ``records`` for the tool ``name``, the call ``call_id`` and (unless
    ``None``) these arguments as the model sent them; ``None`` when there is none, or several.

    Arguments match when they hold the same values once ``null`` is left out: strict mode sends
    ``null`` for an optional argument the model left out, which toolwire drops before storing.
    """
    found = [r for r in records if r.tool == name and r.call_id == call_id]
    if arguments is not None and found:
        sent = _loaded(arguments)
        found = [r for r in found if sent is not None and _loaded(r.arguments) == sent]
    if len(found) == 1:
        return found[0]
    if found:
        _log.warning(
            "openai_agents.approval_ambiguous",
            tool=name,
            call_id=call_id,
            approval_ids=[r.id for r in found],
        )
    return None


def digest(arguments: str) -> str | None:
    """SHA-256 of a call's arguments as canonical JSON (keys sorted, ``null`` left out, as
    toolwire stores them); ``None`` for text that is not JSON."""
    loaded = _loaded(arguments)
    if loaded is None:
        return None
    canonical = json.dumps(loaded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _changed(held: toolwire.Approval, name: str, call_id: str) -> str:
    """What the model reads for a held call whose arguments the SDK now holds differently."""
    _log.warning(
        "openai_agents.approval_arguments_changed",
        approval_id=held.id,
        tool=name,
        call_id=call_id,
    )
    return json.dumps(
        {
            "error": "approval_denied",
            "message": (
                f"{name} did not run: the arguments approved in the run's state are not the "
                f"ones toolwire holds for this call (approval {held.id}); toolwire runs "
                "exactly what a person approved. Send a new call if it is still needed."
            ),
            "retryable": False,
            "details": {"approval_id": held.id, "call_id": call_id},
        },
        separators=(",", ":"),
    )


def _approve_in_sdk(
    run: RunContextWrapper[Any],
    agent: AgentBase[Any],
    name: str,
    call_id: str,
    record: toolwire.Approval,
) -> None:
    """Turn the SDK's rejection of a call toolwire approved first into an approval: the SDK
    then invokes the call, which gives the model toolwire's stored result (nothing runs again)."""
    item = ToolApprovalItem(
        agent=agent,
        raw_item=ResponseFunctionToolCall(
            type="function_call", call_id=call_id, name=name, arguments=record.arguments
        ),
        tool_name=name,
    )
    try:
        run.approve_tool(item)
    except Exception as exc:  # noqa: BLE001 - the SDK refuses the item: its rejection stands
        _log.warning(
            "openai_agents.sdk_approve_failed",
            approval_id=record.id,
            tool=name,
            error=str(exc),
        )


def _loaded(text: str) -> Any:
    try:
        return _without_nulls(json.loads(text))
    except ValueError:
        return None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _output(outcome: Hold | ToolOutput) -> ToolOutput:
    # A call toolwire holds once the SDK is past asking (a permission hook that asks for a
    # person, beyond the tool's policy) cannot interrupt the run: the model reads the hold.
    return outcome.text if isinstance(outcome, Hold) else outcome
