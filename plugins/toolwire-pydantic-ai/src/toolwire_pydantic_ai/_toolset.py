"""``ToolwireToolset``: a Pydantic AI toolset whose every call goes through toolwire's pipeline."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import toolwire
from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
    UserError,
)
from pydantic_ai.tools import AgentDepsT, ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, ToolsetTool
from pydantic_core import SchemaValidator, core_schema
from toolwire.types import Redaction

from . import _approvals
from ._answer import answer, approval_id_in
from ._definitions import definition

#: Any JSON object: Pydantic AI parses the model's arguments, toolwire validates them (once).
ANY_OBJECT = SchemaValidator(
    core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())
)

RoleOf = Callable[[RunContext[Any]], str | None]
StateOf = Callable[[RunContext[Any]], Mapping[str, Any] | None]


class ToolwireToolset(AbstractToolset[AgentDepsT]):
    """The tools a toolwire dispatcher lets a role call, as a Pydantic AI toolset.

    Pydantic AI runs the loop; each call the model makes is one ``dispatcher.dispatch``: roles,
    permission hooks, approvals, middleware, executors and observers as for any toolwire
    call. Pydantic AI only parses the arguments into an object: toolwire validates them.

    Args:
        dispatcher: The dispatcher whose tools these are. The host keeps owning it (and closes
            it); the toolset never does.
        role: The role calls are made under, and whose tools the model sees: a name, or a
            function of the run context (``lambda ctx: ctx.deps.role``). ``None``: the
            dispatcher's tools that name no roles.
        id: The toolset's id, unique among an agent's toolsets (durable execution needs one).
        max_retries: How many retry prompts (invalid arguments, a timeout) a tool gets per run;
            the agent's ``retries`` when ``None``.
        state: The call's ``state`` from the run context. By default the run's ``deps``: a
            mapping as it is, another object as a read-only view of its attributes, so that
            ``deps.principal`` is the principal approvals record.
    """

    def __init__(
        self,
        dispatcher: toolwire.Dispatcher,
        *,
        role: str | RoleOf | None = None,
        id: str | None = None,
        max_retries: int | None = None,
        state: StateOf | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.role = role
        self.max_retries = max_retries
        self._id = id
        self._state = state
        self._definitions: dict[str, tuple[toolwire.Tool, ToolDefinition]] = {}
        self._redaction = Redaction.from_config(dispatcher.config)

    @property
    def id(self) -> str | None:
        return self._id

    def __repr__(self) -> str:
        return f"toolwire_pydantic_ai.ToolwireToolset(id={self._id!r}, role={self.role!r})"

    # -- Pydantic AI's toolset ------------------------------------------------------------

    async def get_tools(self, ctx: RunContext[AgentDepsT]) -> dict[str, ToolsetTool[AgentDepsT]]:
        """The tools the run's role may call (``dispatcher.tools(role)``)."""
        self.state_of(ctx)  # deps toolwire cannot take stop the run before the model is asked
        retries = self.max_retries if self.max_retries is not None else ctx.max_retries
        return {
            tool.name: ToolsetTool(
                toolset=self,
                tool_def=self._definition(tool),
                max_retries=retries,
                args_validator=ANY_OBJECT,
            )
            for tool in self.dispatcher.tools(self.role_of(ctx))
        }

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        """Dispatch the call (or, resumed with a person's approval, approve toolwire's record)."""
        state = self.state_of(ctx)
        approval_id = approval_id_in(ctx.tool_call_metadata) if ctx.tool_call_approved else None
        if approval_id is not None:
            result = await self._approve(approval_id, name, tool_args, ctx, state)
        else:
            result = await self.dispatcher.dispatch(
                name, tool_args, call_id=ctx.tool_call_id, role=self.role_of(ctx), state=state
            )
        return answer(result, self._redaction)

    # -- approvals ----------------------------------------------------------------------------

    async def decide(
        self,
        requests: DeferredToolRequests,
        approvals: Mapping[str, bool | ToolApproved | ToolDenied],
        *,
        by: str,
    ) -> DeferredToolResults:
        """Record a person's decisions in toolwire; resume the run with what this returns.

        ``approvals`` is what ``requests.build_results(approvals=...)`` takes, by tool call id:
        ``True`` or ``ToolApproved()`` to approve, ``False`` or ``ToolDenied(message)`` to
        reject. A rejection of a call toolwire holds is recorded now (``dispatcher.reject``,
        with the message), and the model reads toolwire's answer. An approval is recorded when
        the resumed run calls the tool: ``dispatcher.approve`` runs exactly the stored
        arguments, once, inside the run (its deps as the call's state, its cancellation, its
        spans). A record decided before keeps its first decision. Other toolsets' calls are
        passed through as given.

        Raises:
            ValueError: an empty ``by``, an id that is not an approval request of
                ``requests``, or ``ToolApproved(override_args=...)`` (toolwire runs what a
                person approved: reject it and let the model send a new call).
            toolwire.ApprovalError: the approval store failed, or does not know the approval.
        """
        return await _approvals.decide(self.dispatcher, requests, approvals, by)

    async def results(self, requests: DeferredToolRequests) -> DeferredToolResults:
        """The requests toolwire's records have decided, to resume the run with.

        For approvals decided outside the run, from the ``toolwire approvals`` command or any
        host sharing the store. An approved call's stored result is what the resumed run gets
        (nothing runs twice); a rejected or expired one is denied with toolwire's answer; a
        pending one is left out (``requests.remaining(results)`` lists those).

        Raises:
            toolwire.ApprovalError: the approval store failed, or does not know an approval.
        """
        return await _approvals.results(self.dispatcher, requests)

    # -- the run context ----------------------------------------------------------------------

    def role_of(self, ctx: RunContext[Any]) -> str | None:
        """The role this run's calls are made under."""
        role = self.role
        return role(ctx) if callable(role) else role

    def state_of(self, ctx: RunContext[Any]) -> Mapping[str, Any] | None:
        """The ``state`` this run's calls get (``CallContext.state``, the principal's source).

        Raises:
            UserError: deps that are neither a mapping nor an object with attributes, without
                a ``state=`` function to say what toolwire gets.
        """
        if self._state is not None:
            return self._state(ctx)
        return deps_state(ctx.deps)

    # -- helpers ------------------------------------------------------------------------------

    def _definition(self, tool: toolwire.Tool) -> ToolDefinition:
        cached = self._definitions.get(tool.name)
        if cached is None or cached[0] is not tool:
            cached = self._definitions[tool.name] = (
                tool,
                definition(tool, self.dispatcher.policy(tool.name)),
            )
        return cached[1]

    async def _approve(
        self,
        approval_id: str,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[Any],
        state: Mapping[str, Any] | None,
    ) -> toolwire.DispatchResult:
        by = _approvals.approved_by_in(ctx.tool_call_metadata)
        if by is None:
            raise UserError(
                f"call {ctx.tool_call_id} was approved without saying who approved it: "
                "resume with `await toolset.decide(requests, approvals, by=...)`"
            )
        waiting = {a.id: a for a in await self.dispatcher.approvals("pending")}
        record = waiting.get(approval_id)
        if record is not None and (
            record.call_id != ctx.tool_call_id
            or record.tool != name
            or json.loads(record.arguments) != tool_args
        ):
            raise UserError(
                f"approval {approval_id} holds another call than {name} {ctx.tool_call_id} "
                "with these arguments: toolwire runs exactly what a person approved"
            )
        return await self.dispatcher.approve(approval_id, by=by, state=state)


def deps_state(deps: Any) -> Mapping[str, Any] | None:
    """A run's deps as toolwire's ``state``: a mapping as it is, an object's attributes as a
    live read-only view, nothing for ``None``."""
    if deps is None or isinstance(deps, Mapping):
        return deps
    try:
        return MappingProxyType(vars(deps))
    except TypeError:
        pass
    if dataclasses.is_dataclass(deps):  # with slots: no __dict__
        return {f.name: getattr(deps, f.name) for f in dataclasses.fields(deps)}
    raise UserError(
        f"toolwire takes a mapping as a call's state, and the run's deps are a "
        f"{type(deps).__name__}: pass a mapping or an object with attributes as deps, "
        "or ToolwireToolset(..., state=lambda ctx: {...})"
    )
